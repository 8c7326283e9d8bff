import { TerraformStack } from "cdktf";
import { AddonsOptions } from "../../lib/addons";
import { KubernetesCluster } from "../../lib/cluster";
import { Synthesized, synthStack } from "../helpers/synth";

function synthCluster(addons?: AddonsOptions, workloadIdentity = true): Synthesized {
  return synthStack((stack: TerraformStack) =>
    new KubernetesCluster(stack, "cluster", { clusterName: "prod", network: { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }, addons, controlPlane: { workloadIdentity } }),
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
/** Statements on anything but the control plane's own groups, which a node replaced in a minor upgrade resizes and leaves. */
const beyondOwnGroups = (statements: Statement[]) => statements.filter((s) => ![s.Resource].flat().every((r) => /:autoScalingGroupName\/prod-control-plane\*$/.test(String(r))));
/** Actions only the add-on controllers need. */
const ADDON_ONLY = /^(ec2:(Create|Attach|Detach|Delete|Modify)Volume|autoscaling:(SetDesiredCapacity|TerminateInstanceInAutoScalingGroup)|sqs:.*|kms:CreateGrant)$/;
/** The three controllers' roles, by add-on: `<cluster>-sa-kube-system-<service account>`. */
const ROLES = {
  "ebs-csi-driver": "prod-sa-kube-system-ebs-csi-controller-sa",
  "cluster-autoscaler": "prod-sa-kube-system-cluster-autoscaler",
  "node-termination-handler": "prod-sa-kube-system-aws-node-termination-handler",
} as const;
/** The inline policy of an add-on controller's own role. */
const controllerPolicy = (s: Synthesized, addon: keyof typeof ROLES): Statement[] => {
  const role = s.resources("aws_iam_role").find((r) => r.values.name === ROLES[addon])!;
  const policy = s.resources("aws_iam_role_policy").find((p) => p.values.role === Synthesized.ref("aws_iam_role", role, "name"))!;
  return JSON.parse(policy.values.policy).Statement;
};

describe("add-on permissions", () => {
  const s = synthCluster();
  const controlPlane = policies(s, "/control-plane/role/");
  const workers = policies(s, "/node-group-general/");

  it("live on a role per controller, which trusts its kube-system service account; the control-plane role keeps only the cloud controller's, workers get none", () => {
    for (const [addon, name] of Object.entries(ROLES)) {
      const role = s.resources("aws_iam_role").find((r) => r.values.name === name);
      expect({ addon, trust: role && JSON.parse(role.values.assume_role_policy).Statement[0].Condition.StringEquals }).toEqual({
        addon,
        trust: expect.objectContaining({ [`prod-oidc-111122223333-eu-west-1.s3.eu-west-1.amazonaws.com:sub`]: `system:serviceaccount:kube-system:${name.replace("prod-sa-kube-system-", "")}` }),
      });
      expect(actions(controllerPolicy(s, addon as keyof typeof ROLES)).filter((a) => ADDON_ONLY.test(a)).length).toBeGreaterThanOrEqual(2);
    }
    for (const addon of Object.keys(ROLES)) expect(Object.keys(controlPlane)).not.toContain(addon);
    expect(Object.keys(controlPlane)).toContain("cloud-controller-manager");
    expect(Object.values(controlPlane).map(beyondOwnGroups).flatMap(actions).filter((a) => ADDON_ONLY.test(a))).toEqual([]);
    expect(Object.values(workers).flatMap(actions).filter((a) => ADDON_ONLY.test(a))).toEqual([]);
  });

  it("live on the control-plane role, where the controllers then run with host networking, when workload identity is off", () => {
    const off = policies(synthCluster(undefined, false), "/control-plane/role/");
    expect(Object.keys(off)).toEqual(expect.arrayContaining(["cloud-controller-manager", "ebs-csi-driver", "cluster-autoscaler", "node-termination-handler"]));
    expect(Object.values(off).flatMap(actions).filter((a) => ADDON_ONLY.test(a)).length).toBeGreaterThanOrEqual(9);
  });

  it("let the EBS CSI driver create and change only volumes tagged for this cluster, and use the cluster key only through EC2", () => {
    const ebs = controllerPolicy(s, "ebs-csi-driver");
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
    const bySid = Object.fromEntries(controllerPolicy(s, "node-termination-handler").map((st) => [st.Sid, st]));
    expect(bySid.TerminationQueue).toMatchObject({ Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage"], Resource: "arn:aws:sqs:eu-west-1:111122223333:prod-node-termination" });
    expect(bySid.CompleteClusterTerminationHooks.Condition).toEqual({ StringEquals: { "aws:ResourceTag/kubernetes.io/cluster/prod": "owned" } });
    expect(bySid.DecryptTerminationQueue.Condition).toEqual({ StringEquals: { "kms:ViaService": "sqs.eu-west-1.amazonaws.com" } });
  });

  it("exist before the control plane applies the add-on specification that names them", () => {
    const spec = s.resources("aws_s3_object").find((o) => o.values.key === "addons/spec.json")!;
    for (const name of Object.values(ROLES)) {
      const role = s.resources("aws_iam_role").find((r) => r.values.name === name)!;
      const policy = s.resources("aws_iam_role_policy").find((p) => p.values.role === Synthesized.ref("aws_iam_role", role, "name"))!;
      expect(spec.values.depends_on).toEqual(expect.arrayContaining([`aws_iam_role.${role.name}`, `aws_iam_role_policy.${policy.name}`]));
      // In the ServiceAccount's YAML, inside the specification's JSON.
      expect(spec.values.content).toContain(`eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/${name}`);
    }
  });

  it("let EventBridge use the cluster key for the encrypted queue, from this account only", () => {
    const key = JSON.parse(s.only("aws_kms_key").values.policy).Statement.find((st: any) => st.Sid === "EventBridgeSendsToEncryptedQueue");
    expect(key).toMatchObject({ Principal: { Service: "events.amazonaws.com" }, Action: ["kms:Decrypt", "kms:GenerateDataKey*"], Condition: { StringEquals: { "aws:SourceAccount": "111122223333" } } });
  });

  it("go away with their add-on", () => {
    const off = { enabled: false };
    const bare = synthCluster({ ebsCsiDriver: off, clusterAutoscaler: off, nodeTerminationHandler: off });
    for (const name of ["ebs-csi-driver", "cluster-autoscaler", "node-termination-handler"]) expect(Object.keys(policies(bare, "/control-plane/"))).not.toContain(name);
    expect(bare.resources("aws_iam_role").map((r) => r.values.name).filter((n) => n.startsWith("prod-sa-"))).toEqual([]);
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
