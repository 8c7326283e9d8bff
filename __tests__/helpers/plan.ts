import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { App } from "cdktf";
import { StackPlan, planStackOffline } from "../../lib/plan/offline-plan";

/** A resource in `planned_values`, with the expressions from `configuration` that reference other resources. */
export interface PlannedResource {
  readonly address: string;
  readonly type: string;
  readonly values: Record<string, any>;
  /** Attribute name to the resource addresses its expression references. */
  readonly references: Record<string, string[]>;
}

/** A new directory under the system's temporary one, removed when the jest run ends (__tests__/global-teardown.ts). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  // One short append per directory: atomic between the workers.
  if (process.env.KUBEADM_AWS_TEST_RUN) appendFileSync(join(process.env.KUBEADM_AWS_TEST_RUN, "temp-dirs"), `${dir}\n`);
  return dir;
}

/** Synthesizes every stack of an in-process app and plans the named one offline. */
export async function planInProcess(build: (app: App) => void, stack: string): Promise<StackPlan> {
  const outdir = tempDir("synth");
  const app = new App({ outdir, skipValidation: false });
  build(app);
  app.synth();
  return planStackOffline(join(outdir, "stacks", stack), join(outdir, "offline-plan", stack));
}

/**
 * planStackOffline, once per configuration in a test run: test files that plan the same synthesized stack (the
 * default app, the two-stack example's stacks) take the first one's plan, keyed by the sha256 of its cdk.tf.json.
 * A file that finds the plan under way waits for it; if that plan failed, it plans for itself, to report its own
 * error. The run's directory (KUBEADM_AWS_TEST_RUN, __tests__/global-setup.ts) goes when the run ends, so no plan
 * outlives the code that made it; without it (a file run through another runner), every call plans.
 */
export async function sharedPlan(stackDir: string, workDir: string): Promise<StackPlan> {
  const run = process.env.KUBEADM_AWS_TEST_RUN;
  if (!run) return planStackOffline(stackDir, workDir);
  const runDir = join(run, "plans");
  mkdirSync(runDir, { recursive: true });
  const key = createHash("sha256").update(readFileSync(join(stackDir, "cdk.tf.json"))).digest("hex");
  const entry = join(runDir, key);
  const planned = join(entry, "plan.json");
  const failed = join(entry, "failed");
  try {
    mkdirSync(entry);
  } catch {
    // Another file plans this configuration.
    while (!existsSync(planned) && !existsSync(failed)) await sleep(250);
    return existsSync(planned) ? (JSON.parse(readFileSync(planned, "utf8")) as StackPlan) : planStackOffline(stackDir, workDir);
  }
  try {
    const result = await planStackOffline(stackDir, workDir);
    writeFileSync(`${planned}.tmp`, JSON.stringify(result));
    renameSync(`${planned}.tmp`, planned);
    return result;
  } catch (error) {
    writeFileSync(failed, String(error));
    throw error;
  }
}

export function plannedResources(plan: StackPlan["plan"], type?: string): PlannedResource[] {
  const planned = (plan as any).planned_values.root_module.resources as Array<{ address: string; type: string; values: Record<string, any> }>;
  const configured = new Map<string, Record<string, any>>(
    ((plan as any).configuration.root_module.resources as Array<{ address: string; expressions: Record<string, any> }>).map((r) => [
      r.address,
      r.expressions,
    ]),
  );
  return planned
    .filter((r) => type === undefined || r.type === type)
    .map((r) => ({
      address: r.address,
      type: r.type,
      // A resource whose every value is unknown until apply has no "values" at all.
      values: r.values ?? {},
      references: flattenReferences(configured.get(r.address) ?? {}),
    }));
}

/** Expression references by attribute path, nested blocks included ("block_device_mappings.0.ebs.0.kms_key_id"). */
function flattenReferences(expressions: unknown, prefix = ""): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (Array.isArray(expressions)) {
    expressions.forEach((item, i) => Object.assign(out, flattenReferences(item, `${prefix}${i}.`)));
  } else if (expressions && typeof expressions === "object") {
    for (const [key, value] of Object.entries(expressions as Record<string, unknown>)) {
      const refs = (value as { references?: unknown })?.references;
      if (Array.isArray(refs)) out[`${prefix}${key}`] = refs as string[];
      else Object.assign(out, flattenReferences(value, `${prefix}${key}.`));
    }
  }
  return out;
}

/** `aws_x.name.id` to `aws_x.name`: how references name the resource they point at. */
export function referencedAddress(references: string[] | undefined): string[] {
  return [...new Set((references ?? []).map((ref) => ref.split(".").slice(0, 2).join(".")))];
}

/** A resource of the plan's `configuration`: its expressions and explicit depends_on. */
export interface ConfiguredResource {
  address: string;
  type: string;
  expressions: Record<string, unknown>;
  depends_on?: string[];
}

/** Every resource address an expression tree references ("aws_x.y.id" becomes "aws_x.y"). */
export function referencesIn(expressions: unknown): string[] {
  if (Array.isArray(expressions)) return expressions.flatMap(referencesIn);
  if (!expressions || typeof expressions !== "object") return [];
  return Object.entries(expressions as Record<string, unknown>).flatMap(([key, value]) =>
    key === "references" && Array.isArray(value) ? value.map((ref: string) => ref.split(".").slice(0, 2).join(".")) : referencesIn(value),
  );
}

/** What Terraform creates before `address`: its references and depends_on, followed transitively. */
export function dependenciesOf(resources: Map<string, ConfiguredResource>, address: string): Set<string> {
  const seen = new Set<string>();
  const visit = (from: string) => {
    const resource = resources.get(from);
    if (!resource) return;
    for (const to of [...referencesIn(resource.expressions), ...(resource.depends_on ?? [])]) {
      if (!seen.has(to)) {
        seen.add(to);
        visit(to);
      }
    }
  };
  visit(address);
  return seen;
}

/** The plan's configured resources by address. */
export function configuredResources(plan: StackPlan["plan"]): Map<string, ConfiguredResource> {
  return new Map(((plan as any).configuration.root_module.resources as ConfiguredResource[]).map((r) => [r.address, r]));
}
