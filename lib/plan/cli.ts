import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { planStackOffline, synthApp } from "./offline-plan";
import { renderSummaryMarkdown, renderSummaryText } from "./summary";

/**
 * `npm run plan [stack...]`: synthesizes the app and plans each stack offline,
 * then prints a review summary and writes it as Markdown for a pull request.
 */
async function main(): Promise<void> {
  const projectDir = process.cwd();
  const outdir = join(projectDir, "cdktf.out");
  const log = (line: string) => console.error(`[plan] ${line}`);
  log("synthesizing the app");
  const stacks = await synthApp(projectDir, outdir);
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((s) => !stacks.includes(s));
  if (unknown.length) throw new Error(`unknown stack(s): ${unknown.join(", ")}; the app has: ${stacks.join(", ")}`);
  for (const stack of wanted.length ? wanted : stacks) {
    const workDir = join(outdir, "offline-plan", stack);
    const result = await planStackOffline(join(outdir, "stacks", stack), workDir, log);
    const markdownFile = join(workDir, "plan-summary.md");
    mkdirSync(workDir, { recursive: true });
    writeFileSync(markdownFile, renderSummaryMarkdown(result.summary));
    console.log(renderSummaryText(result.summary));
    console.log(`\nPlan JSON: ${join(workDir, "plan.json")}\nMarkdown summary for the pull request: ${markdownFile}\n`);
  }
}

main().catch((error: Error) => {
  console.error(`[plan] ${error.message}`);
  process.exit(1);
});
