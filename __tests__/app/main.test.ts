import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/plan";

const ROOT = join(__dirname, "../..");

/** Runs main.ts the way cdktf.json does, with the given environment. */
function runMain(env: Record<string, string>) {
  const outdir = tempDir("main");
  const { app } = JSON.parse(readFileSync(join(ROOT, "cdktf.json"), "utf8"));
  const result = spawnSync(app, { cwd: ROOT, shell: true, encoding: "utf8", env: { ...process.env, ...env, CDKTF_OUTDIR: outdir } });
  return { ...result, outdir };
}

describe("main.ts", () => {
  it("synthesizes a production-shaped network, control plane and worker group with no setup", () => {
    const result = runMain({});
    expect(result.status).toBe(0);
    const stack = JSON.parse(readFileSync(join(result.outdir, "stacks/kubeadm/cdk.tf.json"), "utf8"));
    const count = (type: string) => Object.keys(stack.resource[type] ?? {}).length;
    expect([count("aws_vpc"), count("aws_subnet"), count("aws_nat_gateway"), count("aws_flow_log"), count("aws_vpc_endpoint")]).toEqual([1, 6, 3, 1, 1]);
    expect([count("aws_autoscaling_group"), count("aws_launch_template"), count("aws_lb")]).toEqual([4, 2, 1]);
    const zones = new Set(Object.values(stack.resource.aws_subnet).map((s: any) => s.availability_zone));
    expect(zones).toEqual(new Set(["eu-west-1a", "eu-west-1b", "eu-west-1c"]));
  });

  it.each([
    [{ CLUSTER_VPC_CIDR: "10.0.0.0/33" }, 'Invalid configuration: vpcCidr: "10.0.0.0/33" is not an IPv4 CIDR; expected a.b.c.d/n, for example "10.0.0.0/16" (set through CLUSTER_VPC_CIDR)'],
    [{ CLUSTER_NAME: "My_Cluster" }, 'Invalid configuration: clusterName: cluster name "My_Cluster" must be a DNS-1123 label'],
    [{ CLUSTER_CONTROL_PLANE_COUNT: "2" }, "Invalid configuration: count: 2 is not allowed; use 1, 3 or 5 (an odd count keeps etcd's quorum) (set through CLUSTER_CONTROL_PLANE_COUNT)"],
    [{ CLUSTER_CNI: "flannel" }, 'Invalid configuration: addons.cni: "flannel" is not one of "calico", "cilium" (set through CLUSTER_CNI)'],
    [{ CLUSTER_WORKLOAD_IDENTITY: "no" }, 'Invalid configuration: workloadIdentity: "no" is neither "true" nor "false" (set through CLUSTER_WORKLOAD_IDENTITY)'],
    [{ CLUSTER_VPC_CIDR: "192.168.0.0/16" }, "Invalid configuration: podCidr: 192.168.0.0/16 overlaps the VPC CIDR 192.168.0.0/16; pod addresses must be outside the VPC"],
  ])("fails on %j with a message naming the property, and writes no stack", (env, message) => {
    const result = runMain(env);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
    expect(result.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(existsSync(join(result.outdir, "manifest.json"))).toBe(false);
  });
});
