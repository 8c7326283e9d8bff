import { readFileSync } from "node:fs";
import { join } from "node:path";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { Testing } from "cdktf";
import { Construct } from "constructs";
import { ClusterStack } from "../../lib/app/cluster-stack";
import { configFromEnv } from "../../lib/app/config";
import { keepStateOfMovedConstruct, stackPath } from "../../lib/state-moves";
import { testStack } from "../helpers/synth";

/**
 * A state written by an earlier release must still find every resource: at its address, or through a moved block.
 * The fixture lists the default stack's addresses as release 0.1.0 (commit a8dcacf, before the cluster-wide services
 * left ControlPlane) synthesized them; the plan-diff test has terraform itself apply the moves.
 */

const RELEASE_0_1 = JSON.parse(readFileSync(join(__dirname, "../fixtures/default-stack-addresses-0.1.0.json"), "utf8")).addresses as string[];

describe("the default stack against the addresses of release 0.1.0", () => {
  const config = configFromEnv({});
  const synth = JSON.parse(Testing.synth(new ClusterStack(Testing.app(), config.clusterName, config), true));
  const addresses = new Set(Object.entries<Record<string, unknown>>(synth.resource).flatMap(([type, byName]) => Object.keys(byName).map((name) => `${type}.${name}`)));
  const moved = new Map<string, string>((synth.moved ?? []).map((m: { from: string; to: string }) => [m.from, m.to]));

  it("finds every resource of that release at its address or through a moved block to a resource of the same type", () => {
    const lost = RELEASE_0_1.filter((a) => !addresses.has(a) && !(moved.has(a) && addresses.has(moved.get(a)!) && moved.get(a)!.split(".")[0] === a.split(".")[0]));
    expect(lost).toEqual([]);
  });

  it("moves exactly the cluster-wide services: bucket, log groups, alarm topic, dashboard, add-on specification and termination queue", () => {
    expect(moved.size).toBe(25);
    const types = [...new Set([...moved.values()].map((to) => to.split(".")[0]))].sort();
    expect(types).toEqual([
      "aws_cloudwatch_dashboard",
      "aws_cloudwatch_event_rule",
      "aws_cloudwatch_event_target",
      "aws_cloudwatch_log_group",
      "aws_s3_bucket",
      "aws_s3_bucket_lifecycle_configuration",
      "aws_s3_bucket_ownership_controls",
      "aws_s3_bucket_policy",
      "aws_s3_bucket_public_access_block",
      "aws_s3_bucket_server_side_encryption_configuration",
      "aws_s3_bucket_versioning",
      "aws_s3_object",
      "aws_sns_topic",
      "aws_sqs_queue",
      "aws_sqs_queue_policy",
      "aws_ssm_parameter",
    ]);
    for (const [from, to] of moved) {
      expect(from).toMatch(/^[a-z0-9_]+\.cluster_control-plane_/);
      expect(to).toMatch(/^[a-z0-9_]+\.cluster_services_/);
    }
  });
});

describe("keepStateOfMovedConstruct", () => {
  it("moves each resource from the address cdktf gives the same resource below the former path", () => {
    const stack = testStack();
    const inside = (...ids: string[]) => ids.reduce<Construct>((scope, id) => new Construct(scope, id), stack);
    // Where the resource was: outer/old-home/inner/bucket; where it is: elsewhere/new-home/inner/bucket.
    const before = new S3Bucket(inside("outer", "old-home", "inner"), "bucket", { bucket: "b" });
    const home = inside("elsewhere", "new-home");
    const after = new S3Bucket(new Construct(home, "inner"), "bucket", { bucket: "b" });
    keepStateOfMovedConstruct(home, ["outer", "old-home"]);
    expect(stackPath(home)).toEqual(["elsewhere", "new-home"]);
    expect((after.toTerraform() as { moved: unknown }).moved).toEqual([
      { from: `aws_s3_bucket.${stack.getLogicalId(before)}`, to: `aws_s3_bucket.${stack.getLogicalId(after)}` },
    ]);
  });
});
