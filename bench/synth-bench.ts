import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * `npm run bench`: times `cdktf synth` of the default stack against a trivial
 * one-resource cdktf app, alternating runs, and prints medians and their ratio.
 * Target: the default stack within 1.2x of the trivial app.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TARGET_RATIO = 1.2;
const ROOT = join(__dirname, "..");
const CDKTF = join(ROOT, "node_modules/.bin/cdktf");

function trivialApp(): string {
  const dir = mkdtempSync(join(tmpdir(), "trivial-cdktf-"));
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "ES2022", module: "commonjs", strict: true, skipLibCheck: true }, "ts-node": { swc: true } }));
  writeFileSync(
    join(dir, "cdktf.json"),
    JSON.stringify({ language: "typescript", app: `node --require ${join(ROOT, "lib/app/register.js")} main.ts`, sendCrashReports: "false" }),
  );
  writeFileSync(
    join(dir, "main.ts"),
    [
      'import { App, TerraformStack } from "cdktf";',
      'import { AwsProvider } from "@cdktf/provider-aws/lib/provider";',
      'import { Vpc } from "@cdktf/provider-aws/lib/vpc";',
      "const app = new App();",
      'const stack = new TerraformStack(app, "trivial");',
      'new AwsProvider(stack, "aws", { region: "eu-west-1" });',
      'new Vpc(stack, "vpc", { cidrBlock: "10.0.0.0/16" });',
      "app.synth();",
      "",
    ].join("\n"),
  );
  return dir;
}

function timeSynth(cwd: string): number {
  const outdir = mkdtempSync(join(tmpdir(), "bench-out-"));
  const started = process.hrtime.bigint();
  const result = spawnSync(CDKTF, ["synth", "--output", outdir], { cwd, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1", CI: "1" } });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  rmSync(outdir, { recursive: true, force: true });
  if (result.status !== 0) throw new Error(`cdktf synth failed in ${cwd}:\n${result.stderr}${result.stdout}`);
  return seconds;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const trivialDir = trivialApp();
try {
  const times = { project: [] as number[], trivial: [] as number[] };
  timeSynth(ROOT); // warm the file cache and ts-node's caches for both apps
  timeSynth(trivialDir);
  for (let round = 1; round <= ROUNDS; round++) {
    times.project.push(timeSynth(ROOT));
    times.trivial.push(timeSynth(trivialDir));
    console.error(`round ${round}/${ROUNDS}: default stack ${times.project.at(-1)!.toFixed(2)} s, trivial app ${times.trivial.at(-1)!.toFixed(2)} s`);
  }
  const project = median(times.project);
  const trivial = median(times.trivial);
  const ratio = project / trivial;
  console.log(`cdktf synth, median of ${ROUNDS}:`);
  console.log(`  default stack  ${project.toFixed(2)} s`);
  console.log(`  trivial app    ${trivial.toFixed(2)} s`);
  console.log(`  ratio          ${ratio.toFixed(2)}x (target <= ${TARGET_RATIO}x: ${ratio <= TARGET_RATIO ? "met" : "MISSED"})`);
} finally {
  rmSync(trivialDir, { recursive: true, force: true });
}
