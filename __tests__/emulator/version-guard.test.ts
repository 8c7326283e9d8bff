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
const TOKEN_PARAMETER = `/k8s/${CLUSTER}/join/token`;
const CONTROL_PLANE_VERSION_PARAMETER = `/k8s/${CLUSTER}/join/control-plane-version`;
const TOKEN = "abcdef.0123456789abcdef";

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

/** The address Terraform knows a parameter by. */
function parameterAddress(stackDir: string, parameter: string): string {
  const parameters = JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8")).resource.aws_ssm_parameter as Record<string, { name: string }>;
  const [name] = Object.entries(parameters).find(([, p]) => p.name === parameter)!;
  return `aws_ssm_parameter.${name}`;
}

describe("a change of the Kubernetes minor on a running cluster", () => {
  let moto: MotoServer;
  let workDir: string;
  let refreshedState = "";

  beforeAll(async () => {
    moto = await startMotoServer();
    // What the first control-plane node writes once it has created the cluster.
    const putVersion = [
      `import boto3`,
      `ssm = boto3.client("ssm", endpoint_url="${moto.url}", region_name="${REGION}", aws_access_key_id="x", aws_secret_access_key="x")`,
      `ssm.put_parameter(Name="${VERSION_PARAMETER}", Value="v1.35.4", Type="String", Overwrite=True)`,
      `ssm.put_parameter(Name="${CONTROL_PLANE_VERSION_PARAMETER}", Value="v1.35.4", Type="String", Overwrite=True)`,
      `ssm.put_parameter(Name="${TOKEN_PARAMETER}", Value="${TOKEN}", Type="SecureString", Overwrite=True)`,
    ].join("\n");
    workDir = tempDir("version-guard");
    const stackDir = synthesize("1.35");
    const stack = emulatedStack(stackDir, workDir, moto.url);
    const init = await stack.terraform("init", "-input=false");
    if (init.code !== 0) throw new Error(tail(init));
    // A deployed cluster, as far as the guard reads it: Terraform created the parameter, then the first node wrote it.
    const targets = [VERSION_PARAMETER, TOKEN_PARAMETER, CONTROL_PLANE_VERSION_PARAMETER].map((p) => `-target=${parameterAddress(stackDir, p)}`);
    const created = await stack.terraform("apply", "-auto-approve", "-input=false", ...targets);
    if (created.code !== 0) throw new Error(tail(created));
    execFileSync(pythonTool("python"), ["-c", putVersion]);
    const refreshed = await stack.terraform("apply", "-refresh-only", "-auto-approve", "-input=false");
    if (refreshed.code !== 0) throw new Error(tail(refreshed));
    refreshedState = readFileSync(join(workDir, "emulator.tfstate"), "utf8");
  }, 180_000);

  afterAll(async () => {
    await moto?.stop();
    if (workDir) rmSync(join(workDir, ".terraform"), { recursive: true, force: true });
  });

  const plan = (kubernetesVersion: string) => emulatedStack(synthesize(kubernetesVersion), workDir, moto.url).terraform("plan", "-input=false", "-lock=false");

  /** Writes SSM parameters as the nodes do. */
  const record = (values: Record<string, string>) =>
    execFileSync(pythonTool("python"), [
      "-c",
      [
        `import boto3`,
        `ssm = boto3.client("ssm", endpoint_url="${moto.url}", region_name="${REGION}", aws_access_key_id="x", aws_secret_access_key="x")`,
        ...Object.entries(values).map(([name, value]) => `ssm.put_parameter(Name="${name}", Value="${value}", Type="String", Overwrite=True)`),
      ].join("\n"),
    ]);

  /**
   * What the plan says, unwrapped (Terraform wraps messages at 80 columns), with the versions the nodes recorded set
   * first: the cluster's, and the control plane's (the stored configuration's, ahead during a minor upgrade).
   */
  async function refusal(recorded: string, kubernetesVersion: string, controlPlaneVersion = recorded): Promise<string> {
    record({ [VERSION_PARAMETER]: recorded, [CONTROL_PLANE_VERSION_PARAMETER]: controlPlaneVersion });
    try {
      const result = await plan(kubernetesVersion);
      expect(result.code).toBe(1);
      return `${result.stdout}${result.stderr}`.replace(/\s+/g, " ");
    } finally {
      record({ [VERSION_PARAMETER]: "v1.35.4", [CONTROL_PLANE_VERSION_PARAMETER]: "v1.35.4" });
    }
  }

  it("keeps the token nodes publish out of the state when Terraform refreshes, and reads the version", () => {
    expect(refreshedState).toContain('"insecure_value": "v1.35.4"');
    expect(refreshedState).not.toContain(TOKEN);
    expect(refreshedState).not.toContain(TOKEN.split(".")[1]);
  });

  it("plans when the minor stays, for a new patch too", async () => {
    for (const version of ["1.35", "1.35.5"]) {
      const result = await plan(version);
      expect({ version, code: result.code, output: result.code ? tail(result) : "" }).toEqual({ version, code: 0, output: "" });
    }
  }, 180_000);

  it("plans the next minor, which nodes roll to by replacement", async () => {
    const result = await plan("1.36");
    expect({ code: result.code, output: result.code ? tail(result) : "" }).toEqual({ code: 0, output: "" });
  }, 180_000);

  it("fails the plan for a downgrade of the minor, and for a skipped minor, each with its own reason", async () => {
    const downgrade = await refusal("v1.36.3", "1.35");
    expect(downgrade).toContain("the cluster runs v1.36.3");
    expect(downgrade).toContain('and 1.35 would downgrade its minor, which Kubernetes does not support; allowed: "1.36" or a patch of it, or the next minor "1.37".');
    expect(downgrade).not.toMatch(/skips a minor/);
    const skip = await refusal("v1.34.2", "1.36");
    expect(skip).toContain('and 1.36 skips a minor; upgrade one minor at a time; allowed: "1.34" or a patch of it, or the next minor "1.35".');
    expect(skip).not.toMatch(/downgrade/);
  }, 240_000);

  it("fails the plan for a return to the old minor while the control plane moves to the next, and plans the next again", async () => {
    const back = await refusal("v1.35.4", "1.35", "v1.36.3");
    expect(back).toContain("the control plane is being upgraded to v1.36.3 (SSM /k8s/guard/join/control-plane-version) from v1.35.4");
    expect(back).toContain('and 1.35 would return to the old minor half-way, leaving the new nodes waiting; a minor is not rolled back in place. allowed: "1.36" or a patch of it');
    expect(back).not.toMatch(/downgrade|skips a minor/);
    record({ [CONTROL_PLANE_VERSION_PARAMETER]: "v1.36.3" });
    try {
      const onward = await plan("1.36");
      expect({ code: onward.code, output: onward.code ? tail(onward) : "" }).toEqual({ code: 0, output: "" });
    } finally {
      record({ [CONTROL_PLANE_VERSION_PARAMETER]: "v1.35.4" });
    }
  }, 240_000);
});
