import { parseAllDocuments } from "yaml";
import { PlannedResource, referencedAddress } from "../helpers/plan";
import { parsePolicyText } from "./policy-checks";
import { ReviewedStack, reviewDefaultApp, reviewMaximalCluster } from "./plan-under-review";

/**
 * Which add-on pods can reach a role that reads the cluster's PKI, read from the offline plans: the add-on
 * specification Terraform stores (the manifests we render ourselves; the CNI's manifest is downloaded on the node
 * and not in the plan) and the IAM roles beside it.
 *
 * A pod on a control-plane node reaches the control-plane instance role, which reads the PKI, when it shares the
 * node's network (IMDS answers it despite the hop limit of 1) or is root on the node (privileged, or a hostPath
 * volume). Every other pod that calls AWS must do it with a role of its own, whose trust names its service account.
 */

type Pod = { addon: string; workload: string; spec: any };
type Statement = { Effect: string; Action?: string | string[]; Resource?: string | string[] };

const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";
/** The one pod allowed to reach the instance role, and why (SECURITY.md, "Pods and instance credentials"). */
const ALLOWED = { "aws-cloud-controller-manager/aws-cloud-controller-manager": "runs before the pod network and cluster DNS, to initialize nodes" };

function addonPods(stack: ReviewedStack): Pod[] {
  const object = stack.plan.resources.find((r) => r.type === "aws_s3_object" && r.values.key === "addons/spec.json");
  if (!object) throw new Error(`${stack.name}: no add-on specification in the plan`);
  const spec = JSON.parse(object.values.content) as { addons: Array<{ name: string; files: Record<string, string> }> };
  return spec.addons.flatMap((addon) =>
    Object.values(addon.files)
      .flatMap((text) => parseAllDocuments(text).map((d) => d.toJS()))
      .filter((o) => o?.spec?.template?.spec)
      .map((o) => ({ addon: addon.name, workload: `${addon.name}/${o.metadata.name}`, spec: o.spec.template.spec })),
  );
}

/** Whether the scheduler may place the pod on a control-plane node. */
function mayRunOnControlPlane(pod: any): boolean {
  const excluded = (pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []).some((term: any) =>
    (term.matchExpressions ?? []).some((e: any) => e.key === CONTROL_PLANE_LABEL && e.operator === "DoesNotExist"),
  );
  const tolerated = (pod.tolerations ?? []).some((t: any) => (t.operator === "Exists" && t.key === undefined) || t.key === CONTROL_PLANE_LABEL);
  return !excluded && tolerated;
}

/** Why a pod reaches its node's instance credentials, if it does. */
function reachesNodeRole(pod: any): string | undefined {
  if (pod.hostNetwork) return "hostNetwork";
  const privileged = [...(pod.containers ?? []), ...(pod.initContainers ?? [])].find((c: any) => c.securityContext?.privileged);
  if (privileged) return `privileged container ${privileged.name}`;
  const hostPath = (pod.volumes ?? []).find((v: any) => v.hostPath);
  if (hostPath) return `hostPath volume ${hostPath.name}`;
  return undefined;
}

function rolePolicies(stack: ReviewedStack, role: PlannedResource): Statement[] {
  const attached = stack.plan.resources.filter((r) => r.type === "aws_iam_role_policy_attachment" && referencedAddress(r.references.role).includes(role.address));
  if (attached.length) throw new Error(`${role.address} has managed policies attached: ${attached.map((a) => a.address).join(", ")}`);
  return stack.plan.resources
    .filter((r) => r.type === "aws_iam_role_policy" && referencedAddress(r.references.role).includes(role.address))
    .flatMap((p) => [parsePolicyText(String(p.values.policy ?? stack.plan.configuration[p.address]?.policy)).Statement].flat());
}

describe("add-on pods and the roles they can reach (offline plans)", () => {
  let stacks: ReviewedStack[];

  beforeAll(async () => {
    stacks = await Promise.all([reviewDefaultApp(), reviewMaximalCluster()]);
  }, 240_000);

  it.each(["default", "maximal"])("lets no add-on pod on a control-plane node reach the instance role but the cloud controller manager (%s)", (name) => {
    const stack = stacks.find((s) => s.name === name)!;
    const pods = addonPods(stack);
    expect(pods.length).toBeGreaterThanOrEqual(5);
    const reaching = pods.filter((p) => mayRunOnControlPlane(p.spec) && reachesNodeRole(p.spec)).map((p) => `${p.workload}: ${reachesNodeRole(p.spec)}`);
    expect(reaching).toEqual(Object.keys(ALLOWED).map((w) => `${w}: hostNetwork`));
  });

  it.each(["default", "maximal"])("gives every add-on pod that calls AWS a role of its own that trusts its service account and cannot read secrets (%s)", (name) => {
    const stack = stacks.find((s) => s.name === name)!;
    const callers = addonPods(stack).filter((p) => JSON.stringify(p.spec).includes('"AWS_ROLE_ARN"'));
    expect(callers.map((p) => p.workload).sort()).toEqual(["aws-ebs-csi-driver/ebs-csi-controller", "aws-node-termination-handler/aws-node-termination-handler", "cluster-autoscaler/cluster-autoscaler"]);
    for (const pod of callers) {
      const arn = pod.spec.containers.flatMap((c: any) => c.env ?? []).find((e: any) => e.name === "AWS_ROLE_ARN").value as string;
      const role = stack.plan.resources.find((r) => r.type === "aws_iam_role" && r.values.name === arn.split("/").pop())!;
      expect({ pod: pod.workload, role: role?.address }).toEqual({ pod: pod.workload, role: expect.any(String) });
      const trust = parsePolicyText(String(role.values.assume_role_policy ?? stack.plan.configuration[role.address]?.assume_role_policy)).Statement;
      const subjects = trust.flatMap((s: any) => Object.entries(s.Condition?.StringEquals ?? {}).filter(([k]) => k.endsWith(":sub")).map(([, v]) => v));
      expect({ pod: pod.workload, subjects }).toEqual({ pod: pod.workload, subjects: [`system:serviceaccount:kube-system:${pod.spec.serviceAccountName}`] });
      const readsSecrets = rolePolicies(stack, role).filter((s) => s.Effect === "Allow" && [s.Action].flat().some((a) => /^(secretsmanager|ssm|s3):|^\*$/.test(String(a))));
      expect({ pod: pod.workload, readsSecrets }).toEqual({ pod: pod.workload, readsSecrets: [] });
    }
  });

  it("finds a pod that reaches the instance role when one is given host networking or privileges (the check can fail)", () => {
    const pods = addonPods(stacks[0]);
    const autoscaler = pods.find((p) => p.workload === "cluster-autoscaler/cluster-autoscaler")!;
    expect(mayRunOnControlPlane(autoscaler.spec) && reachesNodeRole(autoscaler.spec)).toBeFalsy();
    expect(reachesNodeRole({ ...autoscaler.spec, hostNetwork: true })).toBe("hostNetwork");
    expect(reachesNodeRole({ ...autoscaler.spec, volumes: [{ name: "root", hostPath: { path: "/" } }] })).toBe("hostPath volume root");
    const node = pods.find((p) => p.workload === "aws-ebs-csi-driver/ebs-csi-node")!;
    expect(reachesNodeRole(node.spec)).toBe("privileged container ebs-plugin");
    expect(mayRunOnControlPlane(node.spec)).toBe(false);
    expect(mayRunOnControlPlane({ ...node.spec, affinity: undefined })).toBe(true);
  });
});
