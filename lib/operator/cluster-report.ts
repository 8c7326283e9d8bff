/**
 * What the operator command (`cdktf-kubeadm-aws`, cli.ts) reports, from what it read: Kubernetes objects as
 * `kubectl get -o json` prints them and the cluster's SSM parameters. Pure, so every verdict is testable without a
 * cluster; cli.ts does the reading.
 */

/** The Node annotation in which each control-plane node names the bundle it runs (roll-control-plane.sh). */
export const NODE_BUNDLE_ANNOTATION = "kubeadm-aws.io/bundle";
/** The ConfigMap recording the bundle the cluster's ClusterConfiguration came from (control-plane.sh). */
export const ROLLOUT_CONFIGMAP = "kubeadm-aws-rollout";
/** The ConfigMap recording the add-on specification last applied (apply-addons.sh). */
export const ADDONS_CONFIGMAP = "kubeadm-aws-addons";
/** The static pods kubeadm runs on every control-plane node, named `<component>-<node>`. */
export const CONTROL_PLANE_COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const;
const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The fields of a Node that the report reads. */
export interface KubeNode {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { providerID?: string; unschedulable?: boolean };
  status?: { conditions?: Condition[]; nodeInfo?: { kubeletVersion?: string } };
}

/** The fields of a Pod that the report reads. */
export interface KubePod {
  metadata: { name: string; namespace?: string };
  spec?: { nodeName?: string; priorityClassName?: string; containers?: Array<{ name: string; image: string }> };
  status?: { phase?: string; conditions?: Condition[]; containerStatuses?: Array<{ name: string; ready: boolean; state?: Record<string, { reason?: string }> }> };
}

/** The rollout's SSM parameters and the add-on checksum, each undefined when it does not exist. */
export interface ClusterParameters {
  bundle?: string;
  status?: string;
  lock?: string;
  paused?: string;
  addonSpecSha256?: string;
}

export interface ClusterObservation {
  clusterName: string;
  nodes: KubeNode[];
  /** The pods of every namespace. */
  pods: KubePod[];
  /** The data of our ConfigMaps in kube-system, by name; a missing one is absent. */
  configMaps: Record<string, Record<string, string> | undefined>;
  /** `kubectl get --raw '/readyz?verbose'`: whether it answered ok, and what it said. */
  readyz: { ok: boolean; output: string };
  parameters: ClusterParameters;
}

export interface ControlPlaneNodeReport {
  name: string;
  instance?: string;
  ready: boolean;
  kubelet?: string;
  apiserver?: string;
  /** The bundle the node says it runs; undefined until its rollout timer has run once. */
  bundle?: string;
  upToDate: boolean;
}

export interface RolloutReport {
  /** The bundle Terraform last planned for the control plane. */
  desiredBundle?: string;
  /** The bundle the cluster's stored ClusterConfiguration came from. */
  clusterConfigurationBundle?: string;
  status?: { state: string; message: string; instance?: string; bundle?: string; at?: string };
  lock?: { instance: string; since?: string };
  paused?: string;
  nodes: ControlPlaneNodeReport[];
  /** The control-plane nodes still to roll: the lock holder first, then by name. */
  next: string[];
  /** Worker nodes by kubelet version (their groups roll by instance refresh): version, count, how many are Ready. */
  workers: Array<{ kubelet: string; nodes: number; ready: number }>;
}

export interface ValidationCheck {
  name: string;
  ok: boolean;
  /** What is wrong, one line per finding; empty when ok. */
  problems: string[];
}

export interface ValidationReport {
  valid: boolean;
  checks: ValidationCheck[];
}

const isControlPlane = (node: KubeNode) => node.metadata.labels?.[CONTROL_PLANE_LABEL] !== undefined;
const condition = (conditions: Condition[] | undefined, type: string) => conditions?.find((c) => c.type === type);
const nodeReady = (node: KubeNode) => condition(node.status?.conditions, "Ready")?.status === "True";
const podReady = (pod: KubePod) => condition(pod.status?.conditions, "Ready")?.status === "True";
const staticPod = (observation: ClusterObservation, component: string, node: string) =>
  observation.pods.find((p) => p.metadata.namespace === "kube-system" && p.metadata.name === `${component}-${node}`);
/** What the cluster cannot run without: kube-system, and pods of the system priority classes in any namespace. */
const isSystemPod = (pod: KubePod) =>
  pod.metadata.namespace === "kube-system" || pod.spec?.priorityClassName === "system-node-critical" || pod.spec?.priorityClassName === "system-cluster-critical";

/** The EC2 instance of a node, from the provider ID the cloud controller manager sets (aws:///<zone>/<id>). */
export function instanceOf(node: KubeNode): string | undefined {
  return /\/(i-[0-9a-f]+)$/.exec(node.spec?.providerID ?? "")?.[1];
}

/** The tag of a pod's first container image (`registry.k8s.io/kube-apiserver:v1.35.4` gives `v1.35.4`). */
function imageTag(pod: KubePod | undefined): string | undefined {
  const image = pod?.spec?.containers?.[0]?.image;
  return image && /:([^:/@]+)(@.*)?$/.exec(image)?.[1];
}

function parseStatus(value: string | undefined): RolloutReport["status"] {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as Record<string, unknown>;
    const text = (key: string) => (typeof parsed[key] === "string" ? (parsed[key] as string) : undefined);
    return { state: text("state") ?? "unknown", message: text("message") ?? "", instance: text("instance"), bundle: text("bundle"), at: text("at") };
  } catch {
    return { state: "unknown", message: `unreadable status: ${value}` };
  }
}

/** The lock's value is "<instance id> <epoch seconds> <version>" (init-lock.sh). */
function parseLock(value: string | undefined): RolloutReport["lock"] {
  if (value === undefined) return undefined;
  const [instance, epoch] = value.split(" ");
  const seconds = Number(epoch);
  return { instance, since: Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString() : undefined };
}

export function rolloutReport(observation: ClusterObservation): RolloutReport {
  const desired = observation.parameters.bundle?.split(" ")[0];
  const clusterBundle = observation.configMaps[ROLLOUT_CONFIGMAP]?.bundle;
  const lock = parseLock(observation.parameters.lock);
  const podOf = (component: string, node: string) => staticPod(observation, component, node);
  const nodes = observation.nodes
    .filter(isControlPlane)
    .map((node): ControlPlaneNodeReport => {
      const bundle = node.metadata.annotations?.[NODE_BUNDLE_ANNOTATION];
      return {
        name: node.metadata.name,
        instance: instanceOf(node),
        ready: nodeReady(node),
        kubelet: node.status?.nodeInfo?.kubeletVersion,
        apiserver: imageTag(podOf("kube-apiserver", node.metadata.name)),
        bundle,
        // As roll-control-plane.sh decides: the node rolled to the bundle, and the cluster's configuration came from it.
        upToDate: desired !== undefined && bundle === desired && clusterBundle === desired,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const holder = nodes.find((n) => lock && n.instance === lock.instance)?.name;
  const next = nodes
    .filter((n) => !n.upToDate)
    .map((n) => n.name)
    .sort((a, b) => Number(b === holder) - Number(a === holder));
  const workers = new Map<string, { kubelet: string; nodes: number; ready: number }>();
  for (const node of observation.nodes.filter((n) => !isControlPlane(n))) {
    const kubelet = node.status?.nodeInfo?.kubeletVersion ?? "unknown";
    const entry = workers.get(kubelet) ?? { kubelet, nodes: 0, ready: 0 };
    entry.nodes += 1;
    entry.ready += nodeReady(node) ? 1 : 0;
    workers.set(kubelet, entry);
  }
  return {
    desiredBundle: desired,
    clusterConfigurationBundle: clusterBundle,
    status: parseStatus(observation.parameters.status),
    lock,
    paused: observation.parameters.paused,
    nodes,
    next: desired === undefined ? [] : next,
    workers: [...workers.values()].sort((a, b) => a.kubelet.localeCompare(b.kubelet, undefined, { numeric: true })),
  };
}

function podProblem(pod: KubePod): string | undefined {
  if (pod.status?.phase === "Succeeded") return undefined;
  if (pod.status?.phase === "Running" && podReady(pod)) return undefined;
  const unscheduled = condition(pod.status?.conditions, "PodScheduled");
  const waiting =
    unscheduled?.status === "False"
      ? `${unscheduled.reason ?? "not scheduled"}${unscheduled.message ? `: ${unscheduled.message}` : ""}`
      : pod.status?.containerStatuses?.flatMap((c) => Object.values(c.state ?? {}).flatMap((s) => (s.reason ? [`${c.name}: ${s.reason}`] : []))).join(", ");
  return `${pod.metadata.namespace}/${pod.metadata.name}${pod.spec?.nodeName ? ` on ${pod.spec.nodeName}` : ""}: ${pod.status?.phase ?? "no status"}, not ready${waiting ? ` (${waiting})` : ""}`;
}

function check(name: string, problems: string[]): ValidationCheck {
  return { name, ok: problems.length === 0, problems };
}

/**
 * The questions `kops validate cluster` answers, for this cluster: every node Ready; on every control-plane node,
 * kubeadm's four static pods running and ready (etcd's pod is ready when etcd's own /readyz answers: a member that
 * serves linearizable reads, so there is a leader and quorum, and no alarm is raised); the API ready through the
 * address the kubeconfig names; every other kube-system pod ready; the add-on specification Terraform planned applied;
 * and no control-plane rollout stopped on a failure.
 */
export function validateCluster(observation: ClusterObservation): ValidationReport {
  const controlPlane = observation.nodes.filter(isControlPlane);
  const staticPods = new Set(controlPlane.flatMap((n) => CONTROL_PLANE_COMPONENTS.map((c) => staticPod(observation, c, n.metadata.name))));

  const nodeProblems = observation.nodes.filter((n) => !nodeReady(n)).map((n) => {
    const ready = condition(n.status?.conditions, "Ready");
    return `${n.metadata.name}: not Ready${ready ? ` (${ready.reason ?? ready.status}${ready.message ? `: ${ready.message}` : ""})` : ""}`;
  });
  if (controlPlane.length === 0) nodeProblems.push("no control-plane node is registered");
  // Only odd counts are deployed (1, 3 or 5): an even count means one is missing, or a replacement has not joined.
  if (controlPlane.length % 2 === 0 && controlPlane.length > 0) {
    nodeProblems.push(`${controlPlane.length} control-plane nodes are registered; a cluster has an odd number, so one is missing or an old one was not removed`);
  }

  const componentProblems = controlPlane.flatMap((node) =>
    CONTROL_PLANE_COMPONENTS.flatMap((component) => {
      const pod = staticPod(observation, component, node.metadata.name);
      if (!pod) return [`${component}-${node.metadata.name}: missing`];
      const problem = podProblem(pod);
      return problem ? [problem] : [];
    }),
  );

  const failedReadyz = observation.readyz.output.split("\n").filter((l) => l.startsWith("[-]"));
  const apiProblems = observation.readyz.ok ? [] : failedReadyz.length ? failedReadyz : [`/readyz: ${observation.readyz.output.trim() || "no answer"}`];

  const systemProblems = observation.pods.filter((p) => isSystemPod(p) && !staticPods.has(p)).flatMap((p) => podProblem(p) ?? []);

  const expected = observation.parameters.addonSpecSha256;
  const applied = observation.configMaps[ADDONS_CONFIGMAP]?.specSha256;
  const addonProblems =
    expected === undefined
      ? ["the add-on specification's checksum parameter does not exist: is this cluster deployed?"]
      : applied === expected
        ? []
        : [`the add-on specification ${expected.slice(0, 12)} is ${applied ? `not applied yet (applied: ${applied.slice(0, 12)})` : "not applied yet"}; the add-on timer applies it within minutes`];

  const status = parseStatus(observation.parameters.status);
  const rolloutProblems = status?.state === "failed" ? [`the control-plane rollout failed: ${status.message} (README, "When a rollout is stuck")`] : [];

  const checks = [
    check("nodes Ready", nodeProblems),
    check("control-plane pods (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) ready", componentProblems),
    check("API /readyz", apiProblems),
    check("system pods ready (kube-system, and system-critical pods anywhere)", systemProblems),
    check("add-ons applied", addonProblems),
    check("control-plane rollout not failed", rolloutProblems),
  ];
  return { valid: checks.every((c) => c.ok), checks };
}

const shortBundle = (key: string | undefined) => (key ? (key.split("/").pop() ?? key).replace(/\.tar\.gz$/, "") : "-");

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
}

export function renderRollout(clusterName: string, report: RolloutReport): string {
  const lines = [`Cluster ${clusterName}: control plane`];
  lines.push(`  planned bundle:        ${report.desiredBundle ?? "none (no rollout parameter: is this cluster deployed?)"}`);
  lines.push(`  configuration from:    ${report.clusterConfigurationBundle ?? "no record"}`);
  if (report.status) {
    lines.push(`  rollout:               ${report.status.state}${report.status.at ? ` at ${report.status.at}` : ""}: ${report.status.message}`);
  }
  lines.push(`  lock:                  ${report.lock ? `held by ${report.lock.instance}${report.lock.since ? ` since ${report.lock.since}` : ""}` : "free"}`);
  lines.push(`  paused:                ${report.paused === undefined ? "no" : `yes: ${report.paused}`}`);
  lines.push("");
  lines.push(
    ...table([
      ["NODE", "INSTANCE", "READY", "KUBELET", "APISERVER", "BUNDLE", "UP TO DATE"],
      ...report.nodes.map((n) => [n.name, n.instance ?? "-", n.ready ? "yes" : "no", n.kubelet ?? "-", n.apiserver ?? "-", shortBundle(n.bundle), n.upToDate ? "yes" : "no"]),
    ]),
  );
  lines.push("");
  if (report.desiredBundle === undefined) lines.push("Nothing to roll.");
  else if (report.next.length === 0) lines.push("Every control-plane node runs the planned bundle.");
  else lines.push(`Still to roll, one at a time${report.paused === undefined ? "" : " once resumed"}: ${report.next.join(", ")}`);
  const workers = report.workers.map((w) => `${w.nodes} on ${w.kubelet} (${w.ready} Ready)`).join(", ");
  lines.push(`Workers: ${workers || "none registered"}`);
  return lines.join("\n") + "\n";
}

export function renderValidation(clusterName: string, report: ValidationReport): string {
  const lines = [`Cluster ${clusterName}`];
  for (const c of report.checks) {
    lines.push(`  ${c.ok ? "ok  " : "FAIL"}  ${c.name}`);
    for (const p of c.problems) lines.push(`        ${p}`);
  }
  lines.push("", report.valid ? `Cluster ${clusterName} is valid.` : `Cluster ${clusterName} is not valid: ${report.checks.filter((c) => !c.ok).length} check(s) failed.`);
  return lines.join("\n") + "\n";
}
