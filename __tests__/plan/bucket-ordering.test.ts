import { join } from "node:path";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { App, TerraformStack, Testing } from "cdktf";
import { buildTwoStackApp } from "../../examples/separate-node-group-stack/app";
import { AwsEnvironment } from "../../lib/aws-environment";
import { KubernetesCluster } from "../../lib/cluster";
import { NodeGroup } from "../../lib/node-group/node-group";
import { StackPlan } from "../../lib/plan/offline-plan";
import { ConfiguredResource, dependenciesOf, referencesIn, sharedPlan, tempDir } from "../helpers/plan";

/**
 * Objects Terraform writes into a bucket must wait for the bucket and for the
 * configuration that protects them. The bucket is named by a plain string, so
 * only an explicit dependency orders the upload: without one, Terraform
 * uploads while the bucket is still being created (NoSuchBucket), or before
 * its default encryption and TLS-only policy exist.
 */

/** The configuration resources an object must find in place, by resource type. */
const PREREQUISITES = [
  "aws_s3_bucket",
  "aws_s3_bucket_server_side_encryption_configuration",
  "aws_s3_bucket_policy",
  "aws_s3_bucket_public_access_block",
  "aws_s3_bucket_ownership_controls",
  "aws_s3_bucket_versioning",
];

/** For each S3 object: the prerequisites of its bucket that it is not ordered after. */
function unorderedUploads(plan: StackPlan["plan"]): Record<string, string[]> {
  const configured = (plan as any).configuration.root_module.resources as ConfiguredResource[];
  const planned = (plan as any).planned_values.root_module.resources as Array<{ address: string; type: string; values: Record<string, any> }>;
  const byAddress = new Map(configured.map((r) => [r.address, r]));
  const bucketByName = new Map(planned.filter((r) => r.type === "aws_s3_bucket").map((r) => [r.values.bucket as string, r.address]));
  const out: Record<string, string[]> = {};
  for (const object of planned.filter((r) => r.type === "aws_s3_object")) {
    const bucket = bucketByName.get(object.values.bucket);
    if (!bucket) throw new Error(`${object.address} writes to ${object.values.bucket}, which this stack does not create`);
    // The bucket's configuration: every resource whose `bucket` argument references it.
    const parts = configured.filter((r) => PREREQUISITES.includes(r.type) && referencesIn((r.expressions as any).bucket).includes(bucket)).map((r) => r.address);
    const required = [bucket, ...parts];
    expect(required.map((a) => a.split(".")[0]).sort()).toEqual([...PREREQUISITES].sort());
    const before = dependenciesOf(byAddress, object.address);
    out[object.address] = required.filter((r) => !before.has(r));
  }
  return out;
}

describe("objects Terraform writes into our buckets", () => {
  let platform: StackPlan;

  beforeAll(async () => {
    const outdir = tempDir("bucket-ordering");
    const app = new App({ outdir });
    buildTwoStackApp(app, { region: "eu-west-1", accountId: "111122223333" });
    app.synth();
    platform = await sharedPlan(join(outdir, "stacks/platform"), join(outdir, "offline-plan/platform"));
  }, 240_000);

  it("wait for the bucket, its encryption, its TLS-only policy, public access block, ownership and versioning", () => {
    const unordered = unorderedUploads(platform.plan);
    // The control plane's bundle, the add-on specification and the system group's bundle.
    expect(Object.keys(unordered)).toHaveLength(3);
    expect(unordered).toEqual(Object.fromEntries(Object.keys(unordered).map((address) => [address, []])));
  });

  it("in another stack, make that stack depend on the cluster's, which cdktf deploys first, configuration included", () => {
    const app = Testing.app();
    const platformStack = new TerraformStack(app, "platform");
    new AwsProvider(platformStack, "aws", { region: "eu-west-1" });
    new AwsEnvironment(platformStack, { region: "eu-west-1", accountId: "111122223333" });
    const cluster = new KubernetesCluster(platformStack, "cluster", { clusterName: "shared", network: { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }, nodeGroups: [] });
    const team = new TerraformStack(app, "team");
    new AwsProvider(team, "aws", { region: "eu-west-1" });
    new AwsEnvironment(team, { region: "eu-west-1", accountId: "111122223333" });
    new NodeGroup(team, "data", { cluster, name: "data", instanceTypes: ["m7i.large"], minSize: 0, maxSize: 2 });
    // Before synth: cross-stack references add their dependencies only while resolving, so this
    // one comes from storing the bundle, and does not rest on other references happening to exist.
    expect(team.dependencies).toEqual([platformStack]);
    // Terraform cannot depend on a resource in another state: the object carries no depends_on.
    const synthesized = JSON.parse(Testing.synth(team));
    const objects = Object.values(synthesized.resource.aws_s3_object) as Array<Record<string, unknown>>;
    expect(objects.map((o) => ({ bucket: o.bucket, depends_on: o.depends_on }))).toEqual([{ bucket: "shared-nodes-111122223333-eu-west-1", depends_on: undefined }]);
  });
});
