import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AwsProvider } from "@cdktf/provider-aws/lib/provider";
import { App, TerraformStack } from "cdktf";
import { AwsEnvironment } from "../../lib/aws-environment";
import { KubernetesCluster } from "../../lib/cluster";
import { tempDir } from "../helpers/plan";
import { pythonTool } from "../helpers/python-tools";
import { emulatedStack, tail } from "./emulated-stack";
import { MotoServer, startMotoServer } from "./moto-server";

/**
 * A change of the Kubernetes minor on a running cluster is refused when
 * Terraform plans, before any node is replaced: the plan refreshes the version
 * the first control-plane node recorded in SSM and checks it against the
 * configured minor. Real terraform, with moto answering the refresh.
 */

const REGION = "eu-west-1";
const CLUSTER = "guard";
const VERSION_PARAMETER = `/k8s/${CLUSTER}/join/kubernetes-version`;

function synthesize(kubernetesVersion: string): string {
  const outdir = tempDir("version-guard-synth");
  const app = new App({ outdir });
  const stack = new TerraformStack(app, "guard");
  new AwsProvider(stack, "aws", { region: REGION });
  new AwsEnvironment(stack, { region: REGION, accountId: "123456789012" });
  new KubernetesCluster(stack, "cluster", {
    clusterName: CLUSTER,
    controlPlane: { kubernetesVersion },
    network: { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] },
    nodeGroups: [{ name: "general", instanceTypes: ["m7i.large"], minSize: 1, maxSize: 2 }],
  });
  app.synth();
  return join(outdir, "stacks/guard");
}

/** The address Terraform knows the version parameter by. */
function versionParameterAddress(stackDir: string): string {
  const parameters = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8")).resource.aws_ssm_parameter as Record<string, { name: string }>;
  const [name] = Object.entries(parameters).find(([, p]) => p.name === VERSION_PARAMETER)!;
  return `aws_ssm_parameter.${name}`;
}

describe("a change of the Kubernetes minor on a running cluster", () => {
  let moto: MotoServer;
  let workDir: string;
  let address: string;

  beforeAll(async () => {
    moto = await startMotoServer();
    // What the first control-plane node wrote when it created the cluster.
    const script = `import boto3; boto3.client("ssm", endpoint_url="${moto.url}", region_name="${REGION}", aws_access_key_id="x", aws_secret_access_key="x").put_parameter(Name="${VERSION_PARAMETER}", Value="v1.35.4", Type="String")`;
    execFileSync(pythonTool("python"), ["-c", script]);
    workDir = tempDir("version-guard");
    const stackDir = synthesize("1.35");
    address = versionParameterAddress(stackDir);
    const stack = emulatedStack(stackDir, workDir, moto.url);
    const init = await stack.terraform("init", "-input=false");
    if (init.code !== 0) throw new Error(tail(init));
    // The state of a deployed cluster, as far as the guard reads it.
    const imported = await stack.terraform("import", "-input=false", address, VERSION_PARAMETER);
    if (imported.code !== 0) throw new Error(tail(imported));
  }, 180_000);

  afterAll(async () => {
    await moto?.stop();
    if (workDir) rmSync(join(workDir, ".terraform"), { recursive: true, force: true });
  });

  const plan = (kubernetesVersion: string) => emulatedStack(synthesize(kubernetesVersion), workDir, moto.url).terraform("plan", "-input=false", "-lock=false");

  it("plans when the minor stays, for a new patch too", async () => {
    for (const version of ["1.35", "1.35.5"]) {
      const result = await plan(version);
      expect({ version, code: result.code, output: result.code ? tail(result) : "" }).toEqual({ version, code: 0, output: "" });
    }
  }, 180_000);

  it("fails the plan, naming the prop, the running version and what is allowed, when the minor changes", async () => {
    const result = await plan("1.36");
    expect(result.code).toBe(1);
    // Terraform wraps the message at 80 columns.
    const message = `${result.stdout}${result.stderr}`.replace(/\s+/g, " ");
    expect(message).toContain(`kubernetesVersion: the cluster runs v1.35.4 (SSM ${VERSION_PARAMETER}), and 1.36 is another minor.`);
    expect(message).toContain("keep the running minor, or a patch of it");
  }, 180_000);
});
