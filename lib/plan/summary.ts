/** Review summary of a Terraform plan: what will be created, changed or destroyed, by type and by construct. */

/** The parts of `terraform show -json` the summary reads. */
export interface PlanJson {
  readonly resource_changes?: Array<{
    readonly address: string;
    readonly mode: string;
    readonly type: string;
    readonly name: string;
    readonly change: { readonly actions: string[]; readonly before?: Record<string, unknown> | null; readonly after?: Record<string, unknown> | null };
  }>;
}

/** The parts of a synthesized `cdk.tf.json` the summary reads: construct paths in resource metadata. */
export interface SynthJson {
  readonly resource?: Record<string, Record<string, { "//"?: { metadata?: { path?: string } } }>>;
}

export interface PlanSummary {
  readonly stack: string;
  /** Counts per action ("create", "update", "delete", "replace"). */
  readonly actions: Record<string, number>;
  /** Resources to create, per Terraform type, sorted by type. */
  readonly createByType: Array<[string, number]>;
  /** Resources to create, per construct path (the resource's parent), sorted by path. */
  readonly createByConstruct: Array<[string, number]>;
  /** What the apply sets rolling on running nodes and add-ons, in the order it happens. */
  readonly rollout: string[];
}

export function summarizePlan(stack: string, plan: PlanJson, synth: SynthJson): PlanSummary {
  const actions: Record<string, number> = {};
  const byType = new Map<string, number>();
  const byConstruct = new Map<string, number>();
  for (const change of plan.resource_changes ?? []) {
    if (change.mode !== "managed") continue;
    const action = actionName(change.change.actions);
    if (action === "no-op") continue;
    actions[action] = (actions[action] ?? 0) + 1;
    if (action !== "create") continue;
    byType.set(change.type, (byType.get(change.type) ?? 0) + 1);
    const construct = constructOf(stack, synth, change.type, change.name);
    byConstruct.set(construct, (byConstruct.get(construct) ?? 0) + 1);
  }
  const sorted = (map: Map<string, number>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));
  return { stack, actions, createByType: sorted(byType), createByConstruct: sorted(byConstruct), rollout: rolloutOf(plan) };
}

/**
 * What an update of a running cluster rolls, from the changes whose effect on nodes is not in their names: the
 * bundle the control plane rolls to (roll-control-plane.sh), new launch template versions, the add-on images the
 * control plane's add-on timer applies, and the worker groups an instance refresh replaces.
 */
export function rolloutOf(plan: PlanJson): string[] {
  const notes: Array<[number, string]> = [];
  const minor = newMinorOf(plan);
  for (const change of plan.resource_changes ?? []) {
    const action = actionName(change.change.actions);
    if (change.mode !== "managed" || (action !== "update" && action !== "replace")) continue;
    const before = change.change.before ?? {};
    const after = change.change.after ?? {};
    if (change.type === "aws_ssm_parameter" && String(after.name).endsWith("/control-plane/rollout/bundle")) {
      const bundles = `bundle ${bundleKey(after.insecure_value)} (from ${bundleKey(before.insecure_value)})`;
      notes.push([
        1,
        minor
          ? `control plane: every node is replaced by a successor on Kubernetes ${minor} from ${bundles}, one at a time, after an etcd snapshot; then kube-proxy and CoreDNS move to ${minor}`
          : `control plane: every node rolls to ${bundles}, one at a time, after an etcd snapshot`,
      ]);
    } else if (change.type === "aws_launch_template") {
      notes.push([2, `launch template ${String(after.name)}: a new version, which every instance launched from now on boots from`]);
    } else if (change.type === "aws_s3_object" && String(after.key).endsWith("/spec.json") && String(after.key).startsWith("addons/")) {
      for (const [addon, images] of imageChanges(String(before.content ?? ""), String(after.content ?? ""))) {
        const when = minor ? `once every control-plane node runs ${minor}` : "within minutes";
        notes.push([3, `add-on ${addon}: ${images}, applied by the control plane's add-on timer ${when}`]);
      }
    } else if (change.type === "aws_autoscaling_group" && hasBlock(after.instance_refresh)) {
      if (launchTemplateVersion(before) !== launchTemplateVersion(after)) {
        const wait = minor ? `; its new instances join once every control-plane node runs ${minor}` : "";
        notes.push([4, `worker group ${String(after.name)}: an instance refresh replaces its instances, draining each${wait}`]);
      }
    }
  }
  return notes.sort(([a], [b]) => a - b).map(([, note]) => note);
}

/** The Kubernetes minor the plan moves the control plane to, from its launch template's description; none if it stays. */
function newMinorOf(plan: PlanJson): string | undefined {
  const minorOf = (values: Record<string, unknown> | null | undefined) => /^Kubernetes (\d+\.\d+) control-plane nodes/.exec(String(values?.description ?? ""))?.[1];
  for (const change of plan.resource_changes ?? []) {
    if (change.type !== "aws_launch_template") continue;
    const [before, after] = [minorOf(change.change.before), minorOf(change.change.after)];
    if (before && after && before !== after) return after;
  }
  return undefined;
}

/**
 * The launch template version a group launches from, directly or through its mixed instances policy (worker groups);
 * a version known only after apply (a new one) is absent from the plan's `after`, so it differs from the old one.
 */
function launchTemplateVersion(group: Record<string, unknown>): string {
  const block = (value: unknown, name: string) => {
    const inner = (value as Record<string, unknown> | undefined)?.[name];
    return (Array.isArray(inner) ? inner[0] : inner) as Record<string, unknown> | undefined;
  };
  const direct = block(group, "launch_template")?.version;
  const mixed = block(block(block(group, "mixed_instances_policy"), "launch_template"), "launch_template_specification")?.version;
  return JSON.stringify(direct ?? mixed ?? null);
}

/** A nested block is a list in a plan (a cdk.tf.json holds a single one as an object). */
function hasBlock(value: unknown): boolean {
  return Array.isArray(value) ? value.length > 0 : typeof value === "object" && value !== null;
}

function bundleKey(value: unknown): string {
  return typeof value === "string" ? value.split(" ")[0] : "(unknown)";
}

/** Per add-on of the specification, its images that change: "old -> new", or added and removed ones. */
function imageChanges(before: string, after: string): Array<[string, string]> {
  const images = (spec: string) => {
    const byAddon = new Map<string, Set<string>>();
    try {
      for (const addon of (JSON.parse(spec) as { addons?: Array<{ name: string; files?: Record<string, string> }> }).addons ?? []) {
        const found = Object.values(addon.files ?? {}).flatMap((file) => [...file.matchAll(/image: "?([^\s"]+)"?/g)].map((m) => m[1]));
        byAddon.set(addon.name, new Set(found));
      }
    } catch {
      // Not JSON (a plan that does not show the content): nothing to compare.
    }
    return byAddon;
  };
  const old = images(before);
  const next = images(after);
  const changes: Array<[string, string]> = [];
  for (const name of [...new Set([...old.keys(), ...next.keys()])].sort()) {
    const removed = [...(old.get(name) ?? [])].filter((i) => !next.get(name)?.has(i));
    const added = [...(next.get(name) ?? [])].filter((i) => !old.get(name)?.has(i));
    if (removed.length || added.length) changes.push([name, [...removed.map((i) => `- ${i}`), ...added.map((i) => `+ ${i}`)].join(", ")]);
  }
  return changes;
}

export function actionName(actions: string[]): string {
  if (actions.includes("create") && actions.includes("delete")) return "replace";
  return actions[0] ?? "no-op";
}

export function constructOf(stack: string, synth: SynthJson, type: string, name: string): string {
  const path = synth.resource?.[type]?.[name]?.["//"]?.metadata?.path;
  if (!path) return "(outside constructs)";
  const parts = path.split("/");
  if (parts[0] === stack) parts.shift();
  parts.pop();
  return parts.join("/") || "(stack)";
}

export function renderSummaryText(summary: PlanSummary): string {
  const lines = [`Offline plan of stack "${summary.stack}": ${describeActions(summary.actions)}`, "", "To create, by type:"];
  for (const [type, count] of summary.createByType) lines.push(`  ${String(count).padStart(4)}  ${type}`);
  lines.push("", "To create, by construct:");
  for (const [construct, count] of summary.createByConstruct) lines.push(`  ${String(count).padStart(4)}  ${construct}`);
  if (summary.rollout.length) lines.push("", "What rolls, in this order:", ...summary.rollout.map((note, i) => `  ${i + 1}. ${note}`));
  return lines.join("\n");
}

export function renderSummaryMarkdown(summary: PlanSummary): string {
  const table = (heading: string, rows: Array<[string, number]>) => [
    `| ${heading} | count |`,
    "| --- | ---: |",
    ...rows.map(([name, count]) => `| \`${name}\` | ${count} |`),
  ];
  return [
    `### Offline plan: \`${summary.stack}\``,
    "",
    describeActions(summary.actions),
    "",
    ...(summary.rollout.length ? ["**What rolls, in this order:**", "", ...summary.rollout.map((note, i) => `${i + 1}. ${note}`), ""] : []),
    "<details><summary>Resources to create, by type</summary>",
    "",
    ...table("type", summary.createByType),
    "",
    "</details>",
    "",
    "<details><summary>Resources to create, by construct</summary>",
    "",
    ...table("construct", summary.createByConstruct),
    "",
    "</details>",
    "",
  ].join("\n");
}

export function describeActions(actions: Record<string, number>): string {
  const order = ["create", "update", "replace", "delete", "move"];
  const parts = order.filter((a) => actions[a]).map((a) => (a === "move" ? `${actions[a]} moved in the state` : `${actions[a]} to ${a}`));
  return parts.length ? `${parts.join(", ")}.` : "no changes.";
}
