import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { runCheckov } from "./checkov";
import { Log, StackPlan, planStackOffline, providerSchemas, run } from "./offline-plan";
import { ComparedPlan, PolicyComparison, StackDiff, comparePolicy, diffStack } from "./plan-diff";
import { PlannedChanges, TerraformState, placeholderNames, seededState } from "./seeded-state";
import { SynthJson } from "./summary";

/**
 * `npm run plan -- --base <ref>`: the working tree planned against the state its base would have left, offline.
 *
 * Per stack: plan the base from empty state; seed a state from that plan (seeded-state.ts); plan the base again
 * against the seeded state and re-seed until that plan changes nothing, so the state is one the base's own
 * configuration agrees with; then plan the working tree against it. Terraform and the provider decide what is
 * updated, what is replaced and why.
 */

/** Re-seeding rounds before giving up; the default app settles in 3. */
export const MAX_SEEDING_ROUNDS = 6;

export interface ComparisonOptions {
  readonly log?: Log;
  /** The checkov program for the policy comparison; unset: $CHECKOV, else `checkov` on PATH; false: no comparison. */
  readonly checkov?: string | false;
  /** Only these stacks; unset: every stack of either tree. */
  readonly stacks?: string[];
}

/** Compares the stacks synthesized under two cdktf output directories (each holding stacks/<name>/cdk.tf.json). */
export async function compareSynthesized(baseOut: string, headOut: string, workDir: string, options: ComparisonOptions = {}): Promise<StackDiff[]> {
  const log = options.log ?? (() => {});
  const stacksOf = (outdir: string) => (existsSync(join(outdir, "stacks")) ? readdirSync(join(outdir, "stacks")) : []);
  const [baseStacks, headStacks] = [stacksOf(baseOut), stacksOf(headOut)];
  const checkov = options.checkov === false ? false : (options.checkov ?? findCheckov());
  const policyDir = join(workDir, "policy");
  mkdirSync(policyDir, { recursive: true });
  const diffs: StackDiff[] = [];
  const policyPlans: Array<{ stack: string; base?: string; head: string }> = [];
  const stacks = [...new Set([...baseStacks, ...headStacks])].filter((s) => !options.stacks?.length || options.stacks.includes(s)).sort();
  for (const stack of stacks) {
    const [baseStack, headStack] = [join(baseOut, "stacks", stack), join(headOut, "stacks", stack)];
    const dirs = { base: join(workDir, stack, "base"), head: join(workDir, stack, "head"), headAlone: join(workDir, stack, "head-alone") };
    if (!headStacks.includes(stack)) {
      log(`${stack}: only in the base`);
      const base = await planStackOffline(baseStack, dirs.base, { log });
      diffs.push(diffStack(stack, "removed", asRemoval(base.plan as ComparedPlan), { base: synthOf(base) }));
      continue;
    }
    if (!baseStacks.includes(stack)) {
      log(`${stack}: only in the working tree`);
      const head = await planStackOffline(headStack, dirs.head, { log });
      diffs.push(diffStack(stack, "added", head.plan as ComparedPlan, { head: synthOf(head) }));
      policyPlans.push({ stack, head: keep(head, policyDir, `${stack}--head`) });
      continue;
    }
    log(`${stack}: planning the base, then seeding its state`);
    const base = await planStackOffline(baseStack, dirs.base, { log });
    const basePolicyPlan = keep(base, policyDir, `${stack}--base`);
    const state = await settledState(baseStack, dirs.base, base, log);
    log(`${stack}: planning the working tree against the base's state`);
    const head = await planStackOffline(headStack, dirs.head, { log, priorState: state });
    diffs.push(diffStack(stack, "compared", head.plan as ComparedPlan, { head: synthOf(head), base: synthOf(base) }, placeholderNames(state)));
    if (checkov) {
      // checkov reads what a plan creates: both sides from empty state, so placeholders never meet its checks.
      const headAlone = await planStackOffline(headStack, dirs.headAlone, { log });
      policyPlans.push({ stack, base: basePolicyPlan, head: keep(headAlone, policyDir, `${stack}--head`) });
    }
  }
  return withPolicy(diffs, policyPlans, checkov, log);
}

/** Seeds a state from the base's plan and re-plans the base against it until nothing changes. */
async function settledState(stackDir: string, workDir: string, base: StackPlan, log: Log): Promise<TerraformState> {
  const schemas = await providerSchemas(workDir);
  let state = seededState(base.plan as unknown as PlannedChanges, schemas);
  for (let round = 1; round <= MAX_SEEDING_ROUNDS; round++) {
    const again = await planStackOffline(stackDir, workDir, { log, priorState: state });
    const changing = ((again.plan as ComparedPlan).resource_changes ?? []).filter((c) => c.mode === "managed" && c.change.actions.join() !== "no-op");
    log(`seeding round ${round}: ${changing.length} resource(s) still change`);
    if (changing.length === 0) return state;
    if (round === MAX_SEEDING_ROUNDS) {
      throw new Error(
        `the base's seeded state did not settle in ${MAX_SEEDING_ROUNDS} rounds; still changing: ${changing.slice(0, 10).map((c) => `${c.address} (${c.change.actions.join("+")})`).join(", ")}`,
      );
    }
    state = seededState(again.plan as unknown as PlannedChanges, schemas, state);
  }
  throw new Error("unreachable");
}

async function withPolicy(diffs: StackDiff[], plans: Array<{ stack: string; base?: string; head: string }>, checkov: string | false | undefined, log: Log): Promise<StackDiff[]> {
  if (checkov === false) return diffs;
  if (!checkov) {
    const policy: PolicyComparison = { tool: "checkov was not found (install it, or set CHECKOV to its path)", ran: false, newFindings: [], resolvedFindings: [] };
    return diffs.map((d) => (d.status === "removed" ? d : { ...d, policy }));
  }
  if (plans.length === 0) return diffs;
  const files = plans.flatMap((p) => (p.base ? [p.base, p.head] : [p.head]));
  log(`checkov on ${files.length} plan(s)`);
  const results = await runCheckov(checkov, files);
  const tool = `checkov ${await checkovVersion(checkov)}`;
  return diffs.map((d) => {
    const plan = plans.find((p) => p.stack === d.stack);
    if (!plan) return d;
    const of = (side: "base" | "head") => results.filter((r) => r.plan === `${d.stack}--${side}`);
    return { ...d, policy: comparePolicy(tool, of("base"), of("head")) };
  });
}

/** A removed stack: what its base plan creates is what the stack's removal would leave behind or destroy. */
function asRemoval(plan: ComparedPlan): ComparedPlan {
  return { resource_changes: (plan.resource_changes ?? []).map((c) => ({ ...c, change: { ...c.change, actions: ["delete"] } })) };
}

function synthOf(plan: StackPlan): SynthJson {
  return JSON.parse(readFileSync(join(plan.workDir, "cdk.tf.json"), "utf8")) as SynthJson;
}

/** Copies a plan's JSON where checkov will read it; its file name names the plan in checkov's results. */
function keep(plan: StackPlan, dir: string, name: string): string {
  const file = join(dir, `${name}.json`);
  copyFileSync(join(plan.workDir, "plan.json"), file);
  return file;
}

function findCheckov(): string | undefined {
  if (process.env.CHECKOV) return process.env.CHECKOV;
  return (process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "checkov")).find((file) => existsSync(file));
}

function checkovVersion(checkov: string): Promise<string> {
  return exec(checkov, ["--version"], process.cwd()).then((v) => v.trim(), () => "(version unknown)");
}

/**
 * Checks out `ref` of the repository that holds `projectDir` into `dir` as a detached worktree. Returns the app's
 * directory in it (the same place relative to the repository's root as `projectDir`), which gets the project's
 * node_modules when both lock files agree, else its own `npm ci`; and a function that removes the worktree.
 */
export async function checkoutBase(projectDir: string, ref: string, dir: string, log: Log = () => {}): Promise<{ appDir: string; remove: () => Promise<void> }> {
  let commit: string;
  try {
    commit = (await exec("git", ["rev-parse", "--verify", "--end-of-options", `${ref}^{commit}`], projectDir)).trim();
  } catch {
    throw new Error(`--base ${ref}: not a commit of the repository at ${projectDir}`);
  }
  const prefix = (await exec("git", ["rev-parse", "--show-prefix"], projectDir)).trim();
  log(`checking out the base ${ref} (${commit.slice(0, 12)}) into ${dir}`);
  await exec("git", ["worktree", "add", "--detach", "--force", dir, commit], projectDir);
  const remove = async () => {
    await exec("git", ["worktree", "remove", "--force", dir], projectDir).catch(() => undefined);
    // Forgets the worktree even when git could not remove it (the caller deletes what is left).
    await exec("git", ["worktree", "prune"], projectDir).catch(() => undefined);
  };
  const appDir = resolve(dir, prefix);
  try {
    if (!existsSync(join(appDir, "cdktf.json"))) throw new Error(`--base ${ref}: the base has no cdktf.json in ${prefix || "the repository's root"}`);
    const lock = (root: string) => (existsSync(join(root, "package-lock.json")) ? readFileSync(join(root, "package-lock.json"), "utf8") : "");
    if (lock(appDir) === lock(projectDir) && existsSync(join(projectDir, "node_modules"))) {
      symlinkSync(resolve(projectDir, "node_modules"), join(appDir, "node_modules"), "dir");
    } else {
      log("the base has other dependencies: npm ci in its worktree");
      await exec("npm", ["ci", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], appDir);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { appDir, remove };
}

/** A command in `cwd` with this process's environment; resolves with its stdout. */
function exec(command: string, args: string[], cwd: string): Promise<string> {
  return run(`${command} ${args[0]}`, command, args, { cwd, env: process.env });
}
