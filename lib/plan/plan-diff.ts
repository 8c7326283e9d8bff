import { createHash } from "node:crypto";
import { CheckovResult } from "./checkov";
import { PlaceholderNames, placeholderOrigin } from "./seeded-state";
import { SynthJson, actionName, constructOf, describeActions, rolloutOf } from "./summary";

/**
 * What a pull request changes, per stack: the plan of the working tree against the base's seeded state
 * (seeded-state.ts), read into resources added, removed and changed with their changed attributes, what rolls on
 * running nodes, and the policy findings that are new. Pure: base-comparison.ts runs the plans.
 */

/** The parts of a `terraform show -json` plan the comparison reads. */
export interface ComparedPlan {
  readonly resource_changes?: Array<{
    readonly address: string;
    /** The address in the base's state, when a moved block renames the resource. */
    readonly previous_address?: string;
    readonly mode: string;
    readonly type: string;
    readonly name: string;
    readonly action_reason?: string;
    readonly replace_paths?: Array<Array<string | number>>;
    readonly change: {
      readonly actions: string[];
      readonly before?: unknown;
      readonly after?: unknown;
      readonly after_unknown?: unknown;
      readonly before_sensitive?: unknown;
      readonly after_sensitive?: unknown;
    };
  }>;
}

export interface AttributeChange {
  /** Dotted path; inside a JSON document held in a string (a policy), the path goes on after `{json}`. */
  readonly path: string;
  readonly before: string;
  readonly after: string;
  /** The provider replaces the resource because of this change. */
  readonly forcesReplacement: boolean;
}

export interface ResourceDiff {
  readonly address: string;
  readonly type: string;
  /** The construct that holds it (its path without the stack and the resource's own id). */
  readonly construct: string;
  /** "move": only renamed in the state, by a moved block. */
  readonly action: "create" | "delete" | "update" | "replace" | "move";
  /** Its address in the base's state, when a moved block renames it. */
  readonly movedFrom?: string;
  readonly attributes: AttributeChange[];
}

/** A policy check whose result the pull request changes. */
export interface FindingChange {
  readonly check: string;
  readonly address: string;
  readonly name: string;
}

export interface PolicyComparison {
  /** What ran ("checkov 3.2.x"), or why nothing did. */
  readonly tool: string;
  readonly ran: boolean;
  readonly newFindings: FindingChange[];
  readonly resolvedFindings: FindingChange[];
}

export interface StackDiff {
  readonly stack: string;
  /** "added": only the working tree has the stack; "removed": only the base has it. */
  readonly status: "added" | "removed" | "compared";
  readonly actions: Record<string, number>;
  readonly resources: ResourceDiff[];
  /** What the apply sets rolling on running nodes and add-ons, in order (summary.ts). */
  readonly rollout: string[];
  readonly policy?: PolicyComparison;
}

/** An attribute whose new value AWS assigns (an id, a new version): listed by name only. */
export const KNOWN_AFTER_APPLY = "(known after apply)";

/** Attribute changes listed per resource; the rest are counted. */
export const MAX_ATTRIBUTES_PER_RESOURCE = 25;
/** Longer values are shown by size and digest. */
const MAX_VALUE_CHARS = 120;

/** Reads the working tree's plan against the base's seeded state, or a stack's plan of its own (added or removed). */
export function diffStack(
  stack: string,
  status: StackDiff["status"],
  plan: ComparedPlan,
  synth: { head?: SynthJson; base?: SynthJson },
  names: PlaceholderNames = new Map(),
): StackDiff {
  const actions: Record<string, number> = {};
  const resources: ResourceDiff[] = [];
  for (const change of plan.resource_changes ?? []) {
    if (change.mode !== "managed") continue;
    const planned = actionName(change.change.actions);
    const movedFrom = change.previous_address;
    const action = planned === "no-op" && movedFrom ? "move" : planned;
    if (action === "no-op" || action === "read") continue;
    actions[action] = (actions[action] ?? 0) + 1;
    const construct = constructOf(stack, (action === "delete" ? synth.base : synth.head) ?? {}, change.type, change.name);
    const attributes = action === "update" || action === "replace" ? attributeChanges(change.change, change.replace_paths ?? [], names) : [];
    resources.push({ address: change.address, type: change.type, construct, action: action as ResourceDiff["action"], ...(movedFrom ? { movedFrom } : {}), attributes });
  }
  const order = ["replace", "delete", "update", "create", "move"];
  resources.sort((a, b) => order.indexOf(a.action) - order.indexOf(b.action) || a.address.localeCompare(b.address));
  return { stack, status, actions, resources, rollout: status === "compared" ? rolloutOf(plan as Parameters<typeof rolloutOf>[0]) : [] };
}

/** Checks that fail on the working tree and not on the base (new), and the other way round (resolved). */
export function comparePolicy(tool: string, base: CheckovResult[], head: CheckovResult[]): PolicyComparison {
  const failed = (results: CheckovResult[]) => new Map(results.filter((r) => !r.passed).map((r) => [`${r.check} ${r.address}`, r]));
  const [before, after] = [failed(base), failed(head)];
  const only = (a: Map<string, CheckovResult>, b: Map<string, CheckovResult>) =>
    [...a.entries()].filter(([key]) => !b.has(key)).map(([, r]) => ({ check: r.check, address: r.address, name: r.name })).sort((x, y) => `${x.check} ${x.address}`.localeCompare(`${y.check} ${y.address}`));
  return { tool, ran: true, newFindings: only(after, before), resolvedFindings: only(before, after) };
}

type Change = NonNullable<ComparedPlan["resource_changes"]>[number]["change"];

/** The leaves that differ between before and after, with secrets and values known only after apply shown as such. */
export function attributeChanges(change: Change, replacePaths: Array<Array<string | number>>, names: PlaceholderNames = new Map()): AttributeChange[] {
  const out: AttributeChange[] = [];
  // A path forces the replacement when it and a replace path lie on one branch (either holds the other).
  const forces = (steps: Array<string | number>) =>
    replacePaths.some((p) => p.slice(0, steps.length).every((step, i) => String(step) === String(steps[i])));
  const show = (value: unknown) => showValue(value, names);
  /** `steps`: the path from the resource; `documents`: where in it JSON documents held as strings begin. */
  const walk = (before: unknown, after: unknown, unknown: unknown, sensitive: unknown, steps: Array<string | number>, documents: number[]) => {
    const leaf = (b: string, a: string) => {
      // Inside a document, the attribute that holds it is what terraform can replace the resource for.
      const attribute = documents.length ? steps.slice(0, documents[0]) : steps;
      out.push({ path: pathOf(steps, documents), before: b, after: a, forcesReplacement: forces(attribute) });
    };
    if (sensitive === true) {
      if (JSON.stringify(before) !== JSON.stringify(after) || unknown === true) leaf("(sensitive)", "(sensitive, changed)");
      return;
    }
    if (unknown === true) {
      leaf(show(before), KNOWN_AFTER_APPLY);
      return;
    }
    if (isContainer(before) || isContainer(after)) {
      const keys = Array.isArray(before) || Array.isArray(after)
        ? [...Array(Math.max(lengthOf(before), lengthOf(after))).keys()]
        : [...new Set([...Object.keys((before as object) ?? {}), ...Object.keys((after as object) ?? {})])].sort();
      for (const key of keys) {
        walk(member(before, key), member(after, key), member(unknown, key), member(sensitive, key), [...steps, key], documents);
      }
      return;
    }
    if (before === after) return;
    const [beforeJson, afterJson] = [jsonDocument(before), jsonDocument(after)];
    if (beforeJson !== undefined && afterJson !== undefined) {
      // A policy or dashboard held as a string: compare the documents, not their text.
      walk(beforeJson, afterJson, undefined, undefined, steps, [...documents, steps.length]);
      return;
    }
    leaf(show(before), show(after));
  };
  walk(change.before, change.after, change.after_unknown, mergeMarks(change.before_sensitive, change.after_sensitive), [], []);
  return out;
}

/** "policy{json}.Statement.0.Action": the steps, with `{json}` where a JSON document held in a string begins. */
function pathOf(steps: Array<string | number>, documents: number[]): string {
  const parts = steps.map(String);
  for (const at of [...documents].reverse()) parts.splice(at, 0, "{json}");
  return parts.join(".").replace(/\.\{json\}/g, "{json}") || "(value)";
}

/** Sensitive in either plan counts: a value that stops being sensitive is still not shown. */
function mergeMarks(a: unknown, b: unknown): unknown {
  if (a === true || b === true) return true;
  if (isContainer(a) || isContainer(b)) {
    const keys = new Set([...Object.keys((a as object) ?? {}), ...Object.keys((b as object) ?? {})]);
    const merged: Record<string, unknown> = Array.isArray(a) || Array.isArray(b) ? [] as unknown as Record<string, unknown> : {};
    for (const key of keys) merged[key] = mergeMarks(member(a, key), member(b, key));
    return merged;
  }
  return undefined;
}

function isContainer(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}

function lengthOf(value: unknown): number {
  return Array.isArray(value) ? value.length : 0;
}

function member(value: unknown, key: string | number): unknown {
  return isContainer(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function jsonDocument(value: unknown): object | undefined {
  if (typeof value !== "string" || !/^\s*[{[]/.test(value)) return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    return isContainer(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A value for a review: short ones as JSON, long ones by size and digest, and a placeholder of the seeded state as
 * the AWS-assigned value it stands for ("id of aws_security_group.x"), when `names` knows it.
 */
export function showValue(value: unknown, names: PlaceholderNames = new Map()): string {
  if (value === undefined) return "(none)";
  const origin = placeholderOrigin(value, names);
  if (origin !== undefined) return origin ? `(${origin.attribute} of ${origin.address}, assigned by AWS)` : "(assigned by AWS)";
  const text = JSON.stringify(value);
  if (text.length <= MAX_VALUE_CHARS) return text;
  const raw = typeof value === "string" ? value : text;
  return `(${raw.length} characters, sha256 ${createHash("sha256").update(raw).digest("hex").slice(0, 12)})`;
}

export function renderDiffText(diffs: StackDiff[], base: string): string {
  const lines: string[] = [`Changes against ${base}:`];
  for (const diff of diffs) {
    lines.push("", `Stack "${diff.stack}": ${headline(diff)}`);
    if (diff.rollout.length) lines.push("  What rolls, in this order:", ...diff.rollout.map((note, i) => `    ${i + 1}. ${note}`));
    lines.push(...policyLines(diff).map((line) => `  ${line}`));
    for (const resource of diff.resources) {
      lines.push(`  ${symbol(diff, resource)} ${resource.address}${resource.movedFrom ? ` (moved from ${resource.movedFrom})` : ""} (${resource.construct})`);
      const { shown, hidden, assigned } = attributeRows(resource);
      for (const a of shown) lines.push(`      ${a.path}: ${a.before} -> ${a.after}${a.forcesReplacement ? "  # forces replacement" : ""}`);
      if (hidden) lines.push(`      ... and ${hidden} more`);
      if (assigned.length) lines.push(`      known after apply: ${assigned.join(", ")}`);
    }
  }
  return lines.join("\n");
}

/** GitHub rejects a comment over 65536 characters; past this, whole stacks are left out, with a pointer to the file. */
export const MAX_MARKDOWN_CHARS = 60_000;
/** Starts the Markdown, so a workflow finds its own comment again to edit it. */
export const PLAN_DIFF_MARKER = "<!-- cdktf-kubeadm-aws plan-diff -->";

export function renderDiffMarkdown(diffs: StackDiff[], base: string): string {
  /** What a reviewer needs first: the headline, what rolls, and the policy findings. */
  const brief = (diff: StackDiff) => {
    const lines = [`### ${code(diff.stack)}: ${escapeMarkdown(headline(diff))}`, ""];
    if (diff.rollout.length) lines.push("**What rolls, in this order:**", "", ...diff.rollout.map((note, i) => `${i + 1}. ${escapeMarkdown(note)}`), "");
    const policy = policyLines(diff);
    if (policy.length) lines.push(...policy.map((line) => `- ${escapeMarkdown(line)}`), "");
    return lines;
  };
  const sections = diffs.map((diff) => {
    const lines = brief(diff);
    if (diff.resources.length) {
      lines.push("| | resource | construct |", "| --- | --- | --- |");
      for (const r of diff.resources) {
        const address = r.movedFrom ? `${code(r.address)} (from ${code(r.movedFrom)})` : code(r.address);
        lines.push(`| ${symbol(diff, r)} ${diff.status === "removed" ? "left in AWS" : r.action} | ${address} | ${code(r.construct)} |`);
      }
      lines.push("");
    }
    for (const r of diff.resources.filter((resource) => resource.attributes.length)) {
      const { shown, hidden, assigned } = attributeRows(r);
      lines.push(`<details><summary>${symbol(diff, r)} <code>${escapeHtml(r.address)}</code>: ${r.attributes.length} attribute(s)</summary>`, "");
      if (shown.length) {
        lines.push("| attribute | before | after |", "| --- | --- | --- |");
        for (const a of shown) lines.push(`| ${code(a.path)}${a.forcesReplacement ? " (forces replacement)" : ""} | ${code(a.before)} | ${code(a.after)} |`);
        if (hidden) lines.push(`| ... and ${hidden} more | | |`);
        lines.push("");
      }
      if (assigned.length) lines.push(`Known after apply: ${assigned.map(code).join(", ")}`, "");
      lines.push("</details>", "");
    }
    return lines.join("\n");
  });
  const changed = diffs.filter((d) => d.resources.length).length;
  const header = [
    PLAN_DIFF_MARKER,
    `## Offline plan against ${code(base)}`,
    "",
    `${changed} of ${diffs.length} stack(s) change. Planned offline, with no AWS account: values AWS assigns show as "assigned by AWS".`,
    "",
  ].join("\n");
  // Whole sections, so no table or <details> is left open; once they no longer fit, each stack's brief alone.
  const briefs = diffs.map((diff) => [...brief(diff), "_Resources left out: too long for a comment. The full comparison is the job's plan-diff.md artifact._", ""].join("\n"));
  let markdown = header;
  let full = true;
  for (const [i, section] of sections.entries()) {
    const rest = briefs.slice(i + 1).reduce((n, b) => n + b.length + 1, 0);
    full = full && markdown.length + section.length + 1 + rest <= MAX_MARKDOWN_CHARS;
    markdown += `\n${full ? section : briefs[i]}`;
  }
  if (markdown.length > MAX_MARKDOWN_CHARS) {
    markdown = `${header}\n_Too long for a comment, even stack by stack in brief: the full comparison is the job's plan-diff.md artifact._\n`;
  }
  return markdown;
}

const SYMBOLS: Record<ResourceDiff["action"], string> = { create: "+", delete: "-", update: "~", replace: "-/+", move: "->" };

function symbol(diff: StackDiff, resource: ResourceDiff): string {
  return diff.status === "removed" ? "!" : SYMBOLS[resource.action];
}

/** What happens to the stack, in a line. */
function headline(diff: StackDiff): string {
  if (diff.status === "removed") {
    const count = diff.resources.length;
    return `removed from the app. cdktf deploy does not destroy a stack it no longer has: its ${count} resource(s) stay in AWS until \`cdktf destroy ${diff.stack}\` runs on the base`;
  }
  return `${diff.status === "added" ? "new stack: " : ""}${describeActions(diff.actions)}`;
}

function policyLines(diff: StackDiff): string[] {
  if (!diff.policy) return [];
  if (!diff.policy.ran) return [`Policy checks not run: ${diff.policy.tool}`];
  const lines = diff.policy.newFindings.map((f) => `New policy finding (${diff.policy!.tool}): ${f.check} on ${f.address}: ${f.name}`);
  lines.push(...diff.policy.resolvedFindings.map((f) => `Resolved policy finding: ${f.check} on ${f.address}`));
  return lines.length ? lines : [`No new policy finding (${diff.policy.tool}).`];
}

/**
 * The attribute changes to list with their values, how many more there are, and the attributes whose new value AWS
 * assigns, by name only: their old value in an offline comparison is a placeholder of the seeded state.
 */
function attributeRows(resource: ResourceDiff): { shown: AttributeChange[]; hidden: number; assigned: string[] } {
  const valued = resource.attributes.filter((a) => a.after !== KNOWN_AFTER_APPLY);
  const assigned = resource.attributes.filter((a) => a.after === KNOWN_AFTER_APPLY).map((a) => a.path);
  return { shown: valued.slice(0, MAX_ATTRIBUTES_PER_RESOURCE), hidden: Math.max(0, valued.length - MAX_ATTRIBUTES_PER_RESOURCE), assigned };
}

/** Inline code in a table cell: pipes escaped, and a fence longer than any backtick run inside. */
function code(text: string): string {
  const cell = text.replace(/\|/g, "\\|").replace(/\n/g, " ");
  const fence = "`".repeat(Math.max(0, ...[...cell.matchAll(/`+/g)].map((m) => m[0].length)) + 1);
  return `${fence}${fence.length > 1 ? " " : ""}${cell}${fence.length > 1 ? " " : ""}${fence}`;
}

/** Plain text in Markdown: no emphasis, links, HTML, tables or @mentions out of names in it. */
function escapeMarkdown(text: string): string {
  return text.replace(/([\\|*_<>[\]`@#])/g, "\\$1");
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
