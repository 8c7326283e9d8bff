/** Review summary of a Terraform plan: what will be created, changed or destroyed, by type and by construct. */

/** The parts of `terraform show -json` the summary reads. */
export interface PlanJson {
  readonly resource_changes?: Array<{
    readonly address: string;
    readonly mode: string;
    readonly type: string;
    readonly name: string;
    readonly change: { readonly actions: string[] };
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
  return { stack, actions, createByType: sorted(byType), createByConstruct: sorted(byConstruct) };
}

function actionName(actions: string[]): string {
  if (actions.includes("create") && actions.includes("delete")) return "replace";
  return actions[0] ?? "no-op";
}

function constructOf(stack: string, synth: SynthJson, type: string, name: string): string {
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

function describeActions(actions: Record<string, number>): string {
  const order = ["create", "update", "replace", "delete"];
  const parts = order.filter((a) => actions[a]).map((a) => `${actions[a]} to ${a}`);
  return parts.length ? `${parts.join(", ")}.` : "no changes.";
}
