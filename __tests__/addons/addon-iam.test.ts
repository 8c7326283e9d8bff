import { TerraformStack } from "cdktf";
import { AddonsOptions } from "../../lib/addons";
import { KubernetesCluster } from "../../lib/cluster";
import { Synthesized, synthStack } from "../helpers/synth";

function synthCluster(addons?: AddonsOptions): Synthesized {
  return synthStack((stack: TerraformStack) =>
    new KubernetesCluster(stack, "cluster", { clusterName: "prod", network: { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }, addons }),
  );
}

type Statement = { Sid?: string; Action: string | string[]; Resource: string | string[]; Condition?: Record<string, any> };
/** Inline and managed policies by name (managed ones without the role-name prefix), of the role whose construct path contains `role`. */
const policies = (s: Synthesized, role: string): Record<string, Statement[]> =>
  Object.fromEntries(
    [...s.resources("aws_iam_role_policy"), ...s.resources("aws_iam_policy")]
      .filter((p) => p.path.includes(role))
      .map((p) => [p.values.name.replace(/^.*-control-plane-/, ""), JSON.parse(p.values.policy).Statement]),
  );
const actions = (statements: Statement[]) => statements.flatMap((s) => [s.Action].flat());

describe("add-on permissions", () => {
  const s = synthCluster();
  const controlPlane = policies(s, "/control-plane/");
  const workers = policies(s, "/node-group-general/");

  it("live on the control-plane role, where the add-on controllers run; workers get none of them", () => {
    expect(Object.keys(controlPlane)).toEqual(expect.arrayContaining(["ebs-csi-driver", "cluster-autoscaler", "node-termination-handler"]));
    const addonOnly = /^(ec2:(Create|Attach|Detach|Delete|Modify)Volume|autoscaling:(SetDesiredCapacity|TerminateInstanceInAutoScalingGroup)|sqs:.*|kms:CreateGrant)$/;
    expect(Object.values(controlPlane).flatMap(actions).filter((a) => addonOnly.test(a)).length).toBeGreaterThanOrEqual(9);
    expect(Object.values(workers).flatMap(actions).filter((a) => addonOnly.test(a))).toEqual([]);
  });

  it("let the EBS CSI driver create and change only volumes tagged for this cluster, and use the cluster key only through EC2", () => {
    const ebs = controlPlane["ebs-csi-driver"];
    const bySid = Object.fromEntries(ebs.map((st) => [st.Sid, st]));
    expect(bySid.EbsCsiCreatesClusterVolumes.Condition).toEqual({ StringEquals: { "aws:RequestTag/ebs.csi.aws.com/cluster-name": "prod" } });
    expect(bySid.EbsCsiManagesClusterVolumes.Condition).toEqual({ StringEquals: { "ec2:ResourceTag/ebs.csi.aws.com/cluster-name": "prod" } });
    expect(actions([bySid.EbsCsiManagesClusterVolumes])).toContain("ec2:DeleteVolume");
    expect(bySid.EbsCsiUsesClusterKeyForVolumes.Condition).toEqual({ StringEquals: { "kms:ViaService": "ec2.eu-west-1.amazonaws.com" } });
    expect(bySid.EbsCsiGrantsClusterKeyToEbs.Condition).toEqual({ Bool: { "kms:GrantIsForAWSResource": true } });
    // Only reads go unconditioned on "*".
    for (const st of ebs.filter((st) => st.Resource === "*" && !st.Condition)) for (const a of actions([st])) expect(a).toMatch(/^ec2:Describe/);
  });

  it("let the termination handler read only its queue and complete hooks only of this cluster's groups", () => {
    const bySid = Object.fromEntries(controlPlane["node-termination-handler"].map((st) => [st.Sid, st]));
    expect(bySid.TerminationQueue).toMatchObject({ Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage"], Resource: "arn:aws:sqs:eu-west-1:111122223333:prod-node-termination" });
    expect(bySid.CompleteClusterTerminationHooks.Condition).toEqual({ StringEquals: { "aws:ResourceTag/kubernetes.io/cluster/prod": "owned" } });
    expect(bySid.DecryptTerminationQueue.Condition).toEqual({ StringEquals: { "kms:ViaService": "sqs.eu-west-1.amazonaws.com" } });
  });

  it("let EventBridge use the cluster key for the encrypted queue, from this account only", () => {
    const key = JSON.parse(s.only("aws_kms_key").values.policy).Statement.find((st: any) => st.Sid === "EventBridgeSendsToEncryptedQueue");
    expect(key).toMatchObject({ Principal: { Service: "events.amazonaws.com" }, Action: ["kms:Decrypt", "kms:GenerateDataKey*"], Condition: { StringEquals: { "aws:SourceAccount": "111122223333" } } });
  });

  it("go away with their add-on", () => {
    const off = { enabled: false };
    const bare = synthCluster({ ebsCsiDriver: off, clusterAutoscaler: off, nodeTerminationHandler: off });
    for (const name of ["ebs-csi-driver", "cluster-autoscaler", "node-termination-handler"]) expect(Object.keys(policies(bare, "/control-plane/"))).not.toContain(name);
    expect(bare.resources("aws_sqs_queue")).toEqual([]);
    expect(bare.resources("aws_cloudwatch_event_rule")).toEqual([]);
    const group = bare.resources("aws_autoscaling_group").find((g) => g.values.name === "prod-general")!;
    expect(group.values.initial_lifecycle_hook.map((h: any) => h.lifecycle_transition)).toEqual(["autoscaling:EC2_INSTANCE_LAUNCHING"]);
  });
});

describe("security group rules follow the CNI", () => {
  const rules = (s: Synthesized) =>
    s
      .resources("aws_vpc_security_group_ingress_rule")
      .map((r) => r.values)
      .filter((r) => /Calico|Cilium/.test(r.description))
      .map((r) => `${r.ip_protocol} ${r.from_port}..${r.to_port}`);

  it("opens VXLAN 4789 for Calico, between every pair of node kinds", () => {
    expect(rules(synthCluster())).toEqual(Array(4).fill("udp 4789..4789"));
  });

  it("opens VXLAN 8472, health checks 4240 and ICMP echo for Cilium, and not Calico's port", () => {
    const cilium = rules(synthCluster({ cni: "cilium" }));
    expect([...new Set(cilium)].sort()).toEqual(["icmp 8..-1", "tcp 4240..4240", "udp 8472..8472"]);
    expect(cilium).toHaveLength(12);
  });
});
