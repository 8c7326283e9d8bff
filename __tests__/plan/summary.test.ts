import { KubernetesCluster } from "../../lib/cluster";
import { ControlPlaneOptions } from "../../lib/control-plane/settings";
import { PlanJson, renderSummaryMarkdown, renderSummaryText, summarizePlan } from "../../lib/plan/summary";
import { Synthesized, synthStack } from "../helpers/synth";

const plan = {
  resource_changes: [
    { address: "aws_vpc.net_vpc", mode: "managed", type: "aws_vpc", name: "net_vpc", change: { actions: ["create"] } },
    { address: "aws_subnet.net_a", mode: "managed", type: "aws_subnet", name: "net_a", change: { actions: ["create"] } },
    { address: "aws_subnet.net_b", mode: "managed", type: "aws_subnet", name: "net_b", change: { actions: ["create"] } },
    { address: "aws_kms_key.key", mode: "managed", type: "aws_kms_key", name: "key", change: { actions: ["delete", "create"] } },
    { address: "aws_iam_role.r", mode: "managed", type: "aws_iam_role", name: "r", change: { actions: ["update"] } },
    { address: "aws_route.same", mode: "managed", type: "aws_route", name: "same", change: { actions: ["no-op"] } },
    { address: "data.aws_region.r", mode: "data", type: "aws_region", name: "r", change: { actions: ["read"] } },
  ],
};
const synth = {
  resource: {
    aws_vpc: { net_vpc: { "//": { metadata: { path: "prod/cluster/network/vpc" } } } },
    aws_subnet: {
      net_a: { "//": { metadata: { path: "prod/cluster/network/private-a" } } },
      net_b: { "//": { metadata: { path: "prod/cluster/network/endpoints/x" } } },
    },
  },
};

describe("summarizePlan", () => {
  const summary = summarizePlan("prod", plan, synth);

  it("counts managed resources per action, treating delete+create as a replacement", () => {
    expect(summary.actions).toEqual({ create: 2 + 1, replace: 1, update: 1 });
  });

  it("groups resources to create by type and by the construct that holds them", () => {
    expect(summary.createByType).toEqual([["aws_subnet", 2], ["aws_vpc", 1]]);
    expect(summary.createByConstruct).toEqual([["cluster/network", 2], ["cluster/network/endpoints", 1]]);
  });

  it("renders text and pull-request Markdown", () => {
    expect(renderSummaryText(summary)).toContain('Offline plan of stack "prod": 3 to create, 1 to update, 1 to replace.');
    const markdown = renderSummaryMarkdown(summary);
    expect(markdown).toContain("| `aws_subnet` | 2 |");
    expect(markdown).toContain("| `cluster/network/endpoints` | 1 |");
  });
});

describe("what an update of a running cluster rolls", () => {
  /** A cluster synthesized with some props: the values its plan's `before` or `after` would hold. */
  const synthesized = (controlPlane: ControlPlaneOptions) =>
    synthStack((stack) => {
      new KubernetesCluster(stack, "cluster", {
        clusterName: "prod",
        controlPlane,
        network: { availabilityZones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"] },
        nodeGroups: [{ name: "general", instanceTypes: ["m7i.large"], minSize: 1, maxSize: 3 }],
      });
    });
  /**
   * The plan of moving from one synthesis to the other, for the resources whose values differ, as `terraform show
   * -json` gives it: values known at plan time in `after`; a launch template's new version is not, so it is absent.
   */
  /** A group's launch template, where it names one (control plane) or through its mixed instances policy (workers), at a version or a new one (absent). */
  function withTemplateVersion(group: Record<string, any>, version?: string): Record<string, unknown> {
    const specification = { launch_template_id: "lt-0123", ...(version ? { version } : {}) };
    if (!group.mixed_instances_policy) return { ...group, launch_template: specification };
    const policy = group.mixed_instances_policy;
    return { ...group, mixed_instances_policy: { ...policy, launch_template: { ...policy.launch_template, launch_template_specification: specification } } };
  }

  function planBetween(from: Synthesized, to: Synthesized): PlanJson {
    const changes: Array<NonNullable<PlanJson["resource_changes"]>[number]> = [];
    for (const [type, resources] of Object.entries(to.json.resource as Record<string, Record<string, Record<string, unknown>>>)) {
      for (const [name, after] of Object.entries(resources)) {
        const before = from.json.resource[type]?.[name];
        const { "//": _a, ...a } = after;
        const { "//": _b, ...b } = before ?? {};
        if (JSON.stringify(a) === JSON.stringify(b) && type !== "aws_autoscaling_group") continue;
        const [beforeValues, afterValues] = type === "aws_autoscaling_group" ? [withTemplateVersion(b, "3"), withTemplateVersion(a)] : [b, a];
        changes.push({ address: `${type}.${name}`, mode: "managed", type, name, change: { actions: ["update"], before: beforeValues, after: afterValues } });
      }
    }
    return { resource_changes: changes };
  }

  it("names the bundle the control plane rolls to, the new launch templates and the worker groups refreshed, control plane first", () => {
    const from = synthesized({ kubernetesVersion: "1.35.2" });
    const to = synthesized({ kubernetesVersion: "1.35.4", scheduler: { extraArgs: { v: "2" } } });
    const key = (s: Synthesized) => s.resources("aws_ssm_parameter").find((p) => p.values.name === "/k8s/prod/control-plane/rollout/bundle")!.values.insecure_value.split(" ")[0];
    const summary = summarizePlan("prod", planBetween(from, to), to.json);
    expect(summary.rollout).toEqual([
      `control plane: every node rolls to bundle ${key(to)} (from ${key(from)}), one at a time, after an etcd snapshot`,
      "launch template prod-control-plane: a new version, which every instance launched from now on boots from",
      "launch template prod-general: a new version, which every instance launched from now on boots from",
      "worker group prod-general: an instance refresh replaces its instances, draining each",
    ]);
    expect(renderSummaryText(summary)).toContain(`What rolls, in this order:\n  1. control plane: every node rolls to bundle ${key(to)}`);
    expect(renderSummaryMarkdown(summary)).toContain("**What rolls, in this order:**\n\n1. control plane:");
  });

  it("names the add-on images a new minor changes", () => {
    const summary = summarizePlan("prod", planBetween(synthesized({ kubernetesVersion: "1.35" }), synthesized({ kubernetesVersion: "1.36" })), {});
    const addons = summary.rollout.filter((n) => n.startsWith("add-on "));
    expect(addons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^add-on aws-cloud-controller-manager: - registry\.k8s\.io\/provider-aws\/cloud-controller-manager:v1\.35\.2@sha256:\w+, \+ registry\.k8s\.io\/provider-aws\/cloud-controller-manager:v1\.36\.1, applied by the control plane's add-on timer once every control-plane node runs 1\.36$/),
        expect.stringMatching(/^add-on cluster-autoscaler: - registry\.k8s\.io\/autoscaling\/cluster-autoscaler:v1\.35\.2@sha256:\w+, \+ registry\.k8s\.io\/autoscaling\/cluster-autoscaler:v1\.36\.1@sha256:\w+,/),
      ]),
    );
    // The control plane still comes first.
    expect(summary.rollout[0]).toMatch(/^control plane: /);
  });

  it("says a 1.35 to 1.36 bump replaces the control plane's nodes first, then moves the add-ons and lets the workers join", () => {
    const summary = summarizePlan("prod", planBetween(synthesized({ kubernetesVersion: "1.35" }), synthesized({ kubernetesVersion: "1.36" })), {});
    const shape = summary.rollout.map((n) => n.replace(/bundle control-plane\/\w+\.tar\.gz \(from control-plane\/\w+\.tar\.gz\)/, "<bundles>").replace(/^(add-on [\w-]+): .*(, applied .*)$/, "$1: <images>$2"));
    expect(shape).toEqual([
      "control plane: every node is replaced by a successor on Kubernetes 1.36 from <bundles>, one at a time, after an etcd snapshot; then kube-proxy and CoreDNS move to 1.36",
      "launch template prod-control-plane: a new version, which every instance launched from now on boots from",
      "launch template prod-general: a new version, which every instance launched from now on boots from",
      "add-on aws-cloud-controller-manager: <images>, applied by the control plane's add-on timer once every control-plane node runs 1.36",
      "add-on cluster-autoscaler: <images>, applied by the control plane's add-on timer once every control-plane node runs 1.36",
      "worker group prod-general: an instance refresh replaces its instances, draining each; its new instances join once every control-plane node runs 1.36",
    ]);
  });
});
