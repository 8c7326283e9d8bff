#!/usr/bin/env node
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { checkoutBase, compareSynthesized } from "./base-comparison";
import { planStackOffline, synthApp } from "./offline-plan";
import { renderDiffMarkdown, renderDiffText } from "./plan-diff";
import { renderSummaryMarkdown, renderSummaryText } from "./summary";

/**
 * `npm run plan [stack...]` (as a dependency: `npx cdktf-kubeadm-aws-plan`): synthesizes the app and plans each
 * stack offline, then prints a review summary and writes it as Markdown for a pull request.
 *
 * `npm run plan -- --base <git-ref> [stack...]`: what the working tree changes against that ref, per stack
 * (base-comparison.ts), printed and written as Markdown for a pull-request comment.
 */
export interface PlanArguments {
  readonly base?: string;
  readonly stacks: string[];
  readonly help?: boolean;
}

/** Where `--base` writes its pull-request comment, under the project. */
export const PLAN_DIFF_MARKDOWN = join("cdktf.out", "plan-diff", "plan-diff.md");

export const PLAN_USAGE = `Usage: cdktf-kubeadm-aws-plan [--base <git-ref>] [stack...]

Synthesizes the cdktf app in the current directory and plans its stacks offline, with no AWS account.

  (no --base)       a review summary per stack: what the plan creates, by type and construct, and what rolls;
                    Markdown in cdktf.out/offline-plan/<stack>/plan-summary.md
  --base <git-ref>  what the working tree changes against that ref (for example origin/main): resources added,
                    removed, replaced and changed with their attributes, what rolls on running nodes, and new
                    checkov findings (checkov on PATH or in $CHECKOV); Markdown in ${PLAN_DIFF_MARKDOWN}
  --help            this text

Needs terraform >= 1.11 and, for --base, git.`;

export function parsePlanArguments(argv: string[]): PlanArguments {
  const stacks: string[] = [];
  let base: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      return { stacks: [], help: true };
    } else if (arg === "--base" || arg.startsWith("--base=")) {
      base = arg === "--base" ? argv[++i] : arg.slice("--base=".length);
      if (!base || base.startsWith("-")) throw new Error("--base needs a git ref (a branch, tag or commit), for example --base origin/main");
    } else if (arg.startsWith("-")) {
      throw new Error(`unknown option ${arg}; allowed: --base <git-ref>, --help, then stack names`);
    } else {
      stacks.push(arg);
    }
  }
  return { base, stacks };
}

async function main(): Promise<void> {
  const projectDir = process.cwd();
  const outdir = join(projectDir, "cdktf.out");
  const log = (line: string) => console.error(`[plan] ${line}`);
  const { base, stacks: wanted, help } = parsePlanArguments(process.argv.slice(2));
  if (help) return void console.log(PLAN_USAGE);
  log("synthesizing the app");
  const stacks = await synthApp(projectDir, outdir);
  if (base) return compareWithBase(projectDir, outdir, base, stacks, wanted, log);
  checkStacks(wanted, stacks);
  for (const stack of wanted.length ? wanted : stacks) {
    const workDir = join(outdir, "offline-plan", stack);
    const result = await planStackOffline(join(outdir, "stacks", stack), workDir, { log });
    const markdownFile = join(workDir, "plan-summary.md");
    mkdirSync(workDir, { recursive: true });
    writeFileSync(markdownFile, renderSummaryMarkdown(result.summary));
    console.log(renderSummaryText(result.summary));
    console.log(`\nPlan JSON: ${join(workDir, "plan.json")}\nMarkdown summary for the pull request: ${markdownFile}\n`);
  }
}

function checkStacks(wanted: string[], stacks: string[]): void {
  const unknown = wanted.filter((s) => !stacks.includes(s));
  if (unknown.length) throw new Error(`unknown stack(s): ${unknown.join(", ")}; the app has: ${stacks.join(", ")}`);
}

async function compareWithBase(projectDir: string, outdir: string, base: string, stacks: string[], wanted: string[], log: (line: string) => void): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), "plan-base-"));
  try {
    const checkout = await checkoutBase(projectDir, base, join(scratch, "tree"), log);
    try {
      log(`synthesizing the base ${base}`);
      const baseOut = join(scratch, "cdktf.out");
      const baseStacks = await synthApp(checkout.appDir, baseOut);
      checkStacks(wanted, [...new Set([...stacks, ...baseStacks])]);
      const markdownFile = join(projectDir, PLAN_DIFF_MARKDOWN);
      const workDir = dirname(markdownFile);
      rmSync(workDir, { recursive: true, force: true });
      const diffs = await compareSynthesized(baseOut, outdir, workDir, { log, stacks: wanted });
      writeFileSync(markdownFile, renderDiffMarkdown(diffs, base));
      writeFileSync(join(workDir, "plan-diff.json"), JSON.stringify(diffs, null, 2));
      console.log(renderDiffText(diffs, base));
      console.log(`\nMarkdown for the pull request: ${markdownFile}\n`);
    } finally {
      await checkout.remove();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(`[plan] ${error.message}`);
    process.exit(1);
  });
}
