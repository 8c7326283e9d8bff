import { main, parseArguments } from "../../lib/operator/cli";
import {
  ClusterObservation,
  KubeNode,
  KubePod,
  instanceOf,
  renderRollout,
  renderValidation,
  rolloutReport,
  validateCluster,
} from "../../lib/operator/cluster-report";

/**
 * The operator command's verdicts on hand-built objects shaped as `kubectl get -o json` prints them. The real-binary
 * suite (__tests__/kubernetes/cluster-suite.ts) runs the command itself against a real control plane.
 */

const OLD = "control-plane/bundles/aaaa.tar.gz";
const NEW = "control-plane/bundles/bbbb.tar.gz";

function node(name: string, options: { controlPlane?: boolean; ready?: boolean; bundle?: string; instance?: string; kubelet?: string } = {}): KubeNode {
  return {
    metadata: {
      name,
      labels: options.controlPlane === false ? {} : { "node-role.kubernetes.io/control-plane": "" },
      annotations: options.bundle ? { "kubeadm-aws.io/bundle": options.bundle } : {},
    },
    spec: { providerID: options.instance ? `aws:///eu-west-1a/${options.instance}` : undefined },
    status: {
      conditions: [{ type: "Ready", status: options.ready === false ? "False" : "True", reason: options.ready === false ? "KubeletNotReady" : "KubeletReady" }],
      nodeInfo: { kubeletVersion: options.kubelet ?? "v1.35.4" },
    },
  };
}

interface PodOptions {
  ready?: boolean;
  phase?: string;
  image?: string;
  waiting?: string;
  nodeName?: string;
  namespace?: string;
  priorityClassName?: string;
}

function pod(name: string, options: PodOptions = {}): KubePod {
  const ready = options.ready !== false;
  return {
    metadata: { name, namespace: options.namespace ?? "kube-system" },
    spec: { nodeName: options.nodeName, priorityClassName: options.priorityClassName, containers: [{ name: "main", image: options.image ?? "registry.k8s.io/pause:3.10.1" }] },
    status: {
      phase: options.phase ?? "Running",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      containerStatuses: [{ name: "main", ready, state: options.waiting || options.phase === "Pending" ? { waiting: { reason: options.waiting ?? "ContainerCreating" } } : { running: {} } }],
    },
  };
}

const staticPods = (nodeName: string, version = "v1.35.4") => [
  pod(`etcd-${nodeName}`, { nodeName, image: "registry.k8s.io/etcd:3.6.6-0" }),
  pod(`kube-apiserver-${nodeName}`, { nodeName, image: `registry.k8s.io/kube-apiserver:${version}` }),
  pod(`kube-controller-manager-${nodeName}`, { nodeName, image: `registry.k8s.io/kube-controller-manager:${version}` }),
  pod(`kube-scheduler-${nodeName}`, { nodeName, image: `registry.k8s.io/kube-scheduler:${version}` }),
];

/** A healthy three-node control plane and a worker, every node on NEW. */
function healthy(): ClusterObservation {
  const names = ["cp-a", "cp-b", "cp-c"];
  return {
    clusterName: "prod",
    nodes: [...names.map((n, i) => node(n, { bundle: NEW, instance: `i-0${i}` })), node("worker-a", { controlPlane: false })],
    pods: [...names.flatMap((n) => staticPods(n)), pod("coredns-5d78c9869d-abcde"), pod("calico-node-xyz12", { namespace: "calico-system", priorityClassName: "system-node-critical" }), pod("web-1", { namespace: "shop", ready: false })],
    configMaps: { "kubeadm-aws-rollout": { bundle: NEW }, "kubeadm-aws-addons": { specSha256: "f".repeat(64) } },
    readyz: { ok: true, output: "[+]ping ok\n[+]etcd ok\nreadyz check passed\n" },
    parameters: { bundle: `${NEW} ${"1".repeat(64)}`, status: JSON.stringify({ state: "rolled", message: "i-02 runs it", instance: "i-02", bundle: NEW }), addonSpecSha256: "f".repeat(64) },
  };
}

describe("validate", () => {
  it("passes a healthy cluster, every check ok: an application's pod that is not ready is not the cluster's problem", () => {
    const report = validateCluster(healthy());
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.valid).toBe(true);
    expect(renderValidation("prod", report)).toContain("Cluster prod is valid.");
  });

  it("fails each check on its own finding, naming the object", () => {
    const cases: Array<[string, (o: ClusterObservation) => void, string]> = [
      ["nodes Ready", (o) => (o.nodes[3] = node("worker-a", { controlPlane: false, ready: false })), "worker-a: not Ready (KubeletNotReady)"],
      ["nodes Ready", (o) => o.nodes.splice(2, 1), "2 control-plane nodes are registered"],
      ["control-plane pods", (o) => (o.pods[0] = pod("etcd-cp-a", { nodeName: "cp-a", ready: false, waiting: "CrashLoopBackOff" })), "kube-system/etcd-cp-a on cp-a: Running, not ready (main: CrashLoopBackOff)"],
      ["control-plane pods", (o) => o.pods.splice(7, 1), "kube-scheduler-cp-b: missing"],
      ["API /readyz", (o) => (o.readyz = { ok: false, output: "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n" }), "[-]etcd failed: reason withheld"],
      ["system pods", (o) => (o.pods[12] = pod("coredns-5d78c9869d-abcde", { phase: "Pending", ready: false })), "kube-system/coredns-5d78c9869d-abcde: Pending, not ready (main: ContainerCreating)"],
      [
        "system pods",
        (o) => {
          o.pods[12] = pod("coredns-5d78c9869d-abcde", { phase: "Pending", ready: false });
          o.pods[12].status!.conditions!.push({ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/4 nodes are available" });
        },
        "kube-system/coredns-5d78c9869d-abcde: Pending, not ready (Unschedulable: 0/4 nodes are available)",
      ],
      ["system pods", (o) => (o.pods[13] = pod("calico-node-xyz12", { namespace: "calico-system", priorityClassName: "system-node-critical", ready: false, waiting: "ImagePullBackOff" })), "calico-system/calico-node-xyz12: Running, not ready (main: ImagePullBackOff)"],
      ["control-plane pods", (o) => (o.pods[0].metadata.namespace = "shop"), "etcd-cp-a: missing"],
      ["add-ons applied", (o) => (o.configMaps["kubeadm-aws-addons"] = { specSha256: "e".repeat(64) }), "not applied yet (applied: eeeeeeeeeeee)"],
      ["add-ons applied", (o) => delete o.parameters.addonSpecSha256, "is this cluster deployed?"],
      ["control-plane rollout", (o) => (o.parameters.status = JSON.stringify({ state: "failed", message: "i-01 stopped at step kubeadm-upgrade-node" })), "stopped at step kubeadm-upgrade-node"],
    ];
    for (const [name, breakIt, finding] of cases) {
      const observation = healthy();
      breakIt(observation);
      const report = validateCluster(observation);
      expect({ valid: report.valid, failed: report.checks.filter((c) => !c.ok).map((c) => c.name) }).toEqual({ valid: false, failed: [expect.stringContaining(name)] });
      expect(report.checks.flatMap((c) => c.problems).join("\n")).toContain(finding);
    }
  });

  it("counts a Succeeded pod (a finished job) as healthy", () => {
    const observation = healthy();
    observation.pods.push(pod("etcd-backup-29000000-abcde", { phase: "Succeeded", ready: false }));
    expect(validateCluster(observation).valid).toBe(true);
  });
});

describe("status", () => {
  it("shows each control-plane node's versions and bundle, and what is still to roll, the lock holder first", () => {
    const observation = healthy();
    observation.nodes[0] = node("cp-a", { bundle: OLD, instance: "i-00" });
    observation.nodes[2] = node("cp-c", { bundle: OLD, instance: "i-02", kubelet: "v1.35.3" });
    observation.parameters.lock = "i-02 1798761600 1";
    const report = rolloutReport(observation);
    expect(report.nodes.map((n) => [n.name, n.instance, n.kubelet, n.apiserver, n.bundle, n.upToDate])).toEqual([
      ["cp-a", "i-00", "v1.35.4", "v1.35.4", OLD, false],
      ["cp-b", "i-01", "v1.35.4", "v1.35.4", NEW, true],
      ["cp-c", "i-02", "v1.35.3", "v1.35.4", OLD, false],
    ]);
    expect(report.next).toEqual(["cp-c", "cp-a"]);
    expect(report.workers).toEqual([{ kubelet: "v1.35.4", nodes: 1, ready: 1 }]);
    expect(report.lock).toEqual({ instance: "i-02", since: "2027-01-01T00:00:00.000Z" });
    const text = renderRollout("prod", report);
    expect(text).toContain("Still to roll, one at a time: cp-c, cp-a");
    expect(text).toMatch(/cp-b\s+i-01\s+yes\s+v1\.35\.4\s+v1\.35\.4\s+bbbb\s+yes/);
  });

  it("groups workers by kubelet version, counting the Ready ones", () => {
    const observation = healthy();
    observation.nodes.push(node("worker-b", { controlPlane: false, kubelet: "v1.35.10", ready: false }), node("worker-c", { controlPlane: false, kubelet: "v1.35.10" }));
    const report = rolloutReport(observation);
    expect(report.workers).toEqual([
      { kubelet: "v1.35.4", nodes: 1, ready: 1 },
      { kubelet: "v1.35.10", nodes: 2, ready: 1 },
    ]);
    expect(renderRollout("prod", report)).toContain("Workers: 1 on v1.35.4 (1 Ready), 2 on v1.35.10 (1 Ready)");
  });

  it("counts no node up to date while the cluster's configuration comes from another bundle", () => {
    const observation = healthy();
    observation.configMaps["kubeadm-aws-rollout"] = { bundle: OLD };
    expect(rolloutReport(observation).next).toEqual(["cp-a", "cp-b", "cp-c"]);
  });

  it("says when everything is rolled, and when it is paused", () => {
    expect(renderRollout("prod", rolloutReport(healthy()))).toContain("Every control-plane node runs the planned bundle.");
    const paused = healthy();
    paused.configMaps["kubeadm-aws-rollout"] = { bundle: OLD };
    paused.parameters.paused = "change freeze";
    const text = renderRollout("prod", rolloutReport(paused));
    expect(text).toContain("paused:                yes: change freeze");
    expect(text).toContain("Still to roll, one at a time once resumed: cp-a, cp-b, cp-c");
  });

  it("reads the instance from the provider ID the cloud controller manager sets", () => {
    expect(instanceOf(node("x", { instance: "i-0123456789abcdef0" }))).toBe("i-0123456789abcdef0");
    expect(instanceOf(node("x"))).toBeUndefined();
  });
});

describe("arguments", () => {
  it("takes the cluster and region from options or the app's environment", () => {
    expect(parseArguments(["status"], { CLUSTER_NAME: "prod", CLUSTER_REGION: "eu-west-1" })).toEqual({ command: "status", cluster: "prod", region: "eu-west-1", json: false });
    expect(parseArguments(["pause", "change", "freeze", "--cluster", "dev", "--json"], {})).toMatchObject({ command: "pause", cluster: "dev", reason: "change freeze", json: true });
  });

  it("prints its usage when asked", async () => {
    let written = "";
    expect(await main(["--help"], {}, { write: (text: string) => (written += text) })).toBe(0);
    expect(written).toMatch(/^Usage: cdktf-kubeadm-aws <command> \[options\]\n/);
  });

  it("refuses bad input with exit code 2 and a message naming what is allowed", async () => {
    const cases: Array<[string[], string]> = [
      [["upgrade"], 'unknown command "upgrade"; expected status, validate, pause or resume'],
      [["status", "--cluster"], "--cluster needs a value"],
      [["status", "--force"], "unknown option --force"],
      [["status"], "--cluster is needed (or CLUSTER_NAME)"],
      [["resume", "now", "--cluster", "prod"], 'resume takes no argument, got "now"'],
    ];
    for (const [argv, message] of cases) {
      let written = "";
      const sink = { write: (text: string) => (written += text) };
      expect(await main(argv, {}, sink, sink)).toBe(2);
      expect(written).toContain(message);
      expect(written).toContain("Usage: cdktf-kubeadm-aws <command>");
    }
  });
});
