import { spawn } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { FakeAws, OFFLINE_SERVICES, startFakeAws } from "./fake-aws";
import { ProviderSchemas } from "./seeded-state";
import { PlanJson, PlanSummary, SynthJson, summarizePlan } from "./summary";

/**
 * The offline plan pipeline: synth, then per stack `terraform init`, `plan`
 * and `show -json`, with no AWS account and no network. No separate
 * `terraform validate`: the plan runs the same validation first (its log says
 * "backend/local: running validation operation"), and each terraform command
 * starts the provider, whose schema alone takes seconds of CPU.
 * Used by `npm run plan` and by the plan tests.
 */

// Write-only attributes (the join token's parameter) need 1.11.
export const MIN_TERRAFORM_VERSION = "1.11.0";
const OVERRIDE_FILE = "offline_plan_override.tf.json";
const CLI_CONFIG_FILE = "offline-plan.tfrc";
const OFFLINE_STATE = "offline.tfstate";
/** A valid state without outputs: remote state then falls back to its defaults. */
const EMPTY_REMOTE_STATE = "offline-plan-empty-remote.tfstate";

export type Log = (line: string) => void;

export interface StackPlan {
  readonly stack: string;
  readonly workDir: string;
  readonly plan: PlanJson & Record<string, unknown>;
  readonly summary: PlanSummary;
}

/**
 * Runs the app command of cdktf.json, as `cdktf synth` (or `cdktn synth`) does, writing stacks under `outdir`: with
 * cdktf.json's context, and its targetVersions, which cdktn checks features against.
 */
export async function synthApp(projectDir: string, outdir: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const config = JSON.parse(readFileSync(join(projectDir, "cdktf.json"), "utf8")) as { app: string; context?: object; targetVersions?: object };
  const context = { ...config.context, ...(config.targetVersions ? { targetVersions: config.targetVersions } : {}) };
  rmSync(join(outdir, "stacks"), { recursive: true, force: true });
  await run("synth", config.app, [], { cwd: projectDir, env: { CDKTF_CONTEXT_JSON: JSON.stringify(context), ...env, CDKTF_OUTDIR: resolve(outdir) }, shell: true });
  return readdirSync(join(outdir, "stacks")).sort();
}

export interface PlanOptions {
  readonly log?: Log;
  /**
   * The state to plan against (a base's seeded state, see seeded-state.ts) instead of an empty one. Nothing is
   * refreshed: the state is all Terraform knows of the resources.
   */
  readonly priorState?: object;
}

/** Plans one synthesized stack directory (holding cdk.tf.json) in `workDir`, offline. */
export async function planStackOffline(stackDir: string, workDir: string, { log = () => {}, priorState }: PlanOptions = {}): Promise<StackPlan> {
  const stack = stackDir.split("/").filter(Boolean).pop()!;
  const terraformVersion = await checkTerraform();
  log(`terraform ${terraformVersion}; planning ${stack} in ${workDir}`);
  prepareWorkDir(stackDir, workDir);
  const env = terraformEnv(workDir, log);
  const fakeAws = await startFakeAws();
  try {
    const text = readFileSync(join(workDir, "cdk.tf.json"), "utf8");
    const synth = JSON.parse(text) as SynthJson & { provider?: { aws?: Array<{ alias?: string }> } };
    const override = { ...offlineOverride(synth.provider?.aws ?? [{}], fakeAws), ...remoteStateDefaults(text) };
    writeFileSync(join(workDir, EMPTY_REMOTE_STATE), JSON.stringify({ version: 4, serial: 1, lineage: "offline-plan", outputs: {}, resources: [] }));
    writeFileSync(join(workDir, OVERRIDE_FILE), JSON.stringify(override, null, 2));
    if (priorState) writeFileSync(join(workDir, OFFLINE_STATE), JSON.stringify(priorState));
    const terraform = (step: string, ...args: string[]) => timed(log, step, () => run(step, "terraform", args, { cwd: workDir, env }));
    await terraform("terraform init", "init", "-input=false", "-no-color");
    const refresh = priorState ? ["-refresh=false"] : [];
    await terraform("terraform plan", "plan", "-input=false", "-lock=false", "-no-color", ...refresh, "-out=offline.tfplan");
    const shown = await terraform("terraform show", "show", "-json", "offline.tfplan");
    writeFileSync(join(workDir, "plan.json"), shown);
    const plan = JSON.parse(shown) as StackPlan["plan"];
    return { stack, workDir, plan, summary: summarizePlan(stack, plan, synth) };
  } catch (error) {
    const lookups = [...new Set(fakeAws.calls.filter((call) => call !== "GetCallerIdentity"))];
    if (lookups.length && error instanceof Error) {
      error.message += `\n\nThe stack looks up values in AWS (${lookups.join(", ")}), which an offline plan cannot answer. Pass them explicitly, for example availability zones (CLUSTER_AZS).`;
    }
    throw error;
  } finally {
    await fakeAws.close();
  }
}

/** `terraform providers schema -json` in a work dir that planStackOffline initialized: every attribute's type. */
export async function providerSchemas(workDir: string): Promise<ProviderSchemas> {
  const output = await run("terraform providers schema", "terraform", ["providers", "schema", "-json"], { cwd: workDir, env: terraformEnv(workDir, () => {}) });
  return JSON.parse(output) as ProviderSchemas;
}

/** The Terraform override that makes a plan need no AWS account: placeholder credentials, local endpoints, local state. */
export function offlineOverride(providers: Array<{ alias?: string }>, fakeAws: Pick<FakeAws, "url">) {
  const endpoints = Object.fromEntries(OFFLINE_SERVICES.map((service) => [service, fakeAws.url]));
  return {
    terraform: [{ backend: { local: { path: OFFLINE_STATE } } }],
    provider: {
      aws: providers.map((p) => ({
        ...(p.alias ? { alias: p.alias } : {}),
        access_key: "offline-plan",
        secret_key: "offline-plan",
        skip_credentials_validation: true,
        skip_requesting_account_id: true,
        skip_metadata_api_check: true,
        skip_region_validation: true,
        endpoints: [endpoints],
      })),
    },
  };
}

/**
 * Cross-stack references read another stack's state, which an offline plan
 * does not have. Each remote state is pointed at an empty state and given
 * placeholder defaults for the outputs the stack reads, so the stack still
 * plans; those values show as placeholders.
 */
export function remoteStateDefaults(synthText: string): { data?: Record<string, unknown> } {
  const synth = JSON.parse(synthText) as { data?: { terraform_remote_state?: Record<string, unknown> } };
  const states = Object.keys(synth.data?.terraform_remote_state ?? {});
  if (states.length === 0) return {};
  const overrides = Object.fromEntries(
    states.map((name) => {
      const outputs = [...synthText.matchAll(new RegExp(`data\\.terraform_remote_state\\.${escapeRegExp(name)}\\.outputs\\.([A-Za-z0-9_.-]+)`, "g"))].map((m) => m[1]);
      const defaults = Object.fromEntries([...new Set(outputs)].map((output) => [output, placeholderFor(output)]));
      return [name, { backend: "local", config: { path: EMPTY_REMOTE_STATE }, defaults }];
    }),
  );
  return { data: { terraform_remote_state: overrides } };
}

/** ARN-shaped for outputs that carry an ARN (the provider validates those), a plain marker otherwise. */
function placeholderFor(output: string): string {
  return /arn$/i.test(output) ? `arn:aws:offline:eu-west-1:123456789012:placeholder/${output}` : `offline-placeholder-${output.slice(-24)}`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Fails with a clear message when terraform is missing or too old; returns its version. */
export async function checkTerraform(): Promise<string> {
  let output: string;
  try {
    output = await run("terraform version", "terraform", ["version", "-json"], { cwd: process.cwd(), env: process.env });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error(`terraform was not found on PATH. The offline plan needs Terraform >= ${MIN_TERRAFORM_VERSION}: https://developer.hashicorp.com/terraform/install`);
    }
    throw error;
  }
  const version = (JSON.parse(output) as { terraform_version: string }).terraform_version;
  if (compareVersions(version, MIN_TERRAFORM_VERSION) < 0) {
    throw new Error(`terraform ${version} is too old; the offline plan needs Terraform >= ${MIN_TERRAFORM_VERSION}`);
  }
  return version;
}

function compareVersions(a: string, b: string): number {
  const [pa, pb] = [a, b].map((v) => v.split(/[.-]/).slice(0, 3).map(Number));
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/** Copies the synthesized stack into the work dir, keeping `.terraform` so a rerun skips provider installation. */
function prepareWorkDir(stackDir: string, workDir: string): void {
  mkdirSync(workDir, { recursive: true });
  for (const entry of readdirSync(workDir)) {
    if (entry !== ".terraform" && entry !== ".terraform.lock.hcl") rmSync(join(workDir, entry), { recursive: true, force: true });
  }
  for (const entry of readdirSync(stackDir)) {
    if (entry === ".terraform" || entry.endsWith(".tfstate")) continue;
    if (entry === "cdk.tf.json") copyFileSync(join(stackDir, entry), join(workDir, entry));
    else cpSync(join(stackDir, entry), join(workDir, entry), { recursive: true });
  }
}

/**
 * Environment for terraform. The user's CLI config (TF_CLI_CONFIG_FILE or
 * ~/.terraformrc) is honoured when it exists; otherwise, if a local provider
 * mirror is found, a CLI config that installs from it is written.
 */
function terraformEnv(workDir: string, log: Log): NodeJS.ProcessEnv {
  // Drop AWS credentials and profiles: the plan must not depend on, or touch, a real account.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("AWS_")));
  Object.assign(env, { TF_IN_AUTOMATION: "1", TF_INPUT: "0", CHECKPOINT_DISABLE: "1" });
  // terraform and the AWS provider it starts are short-lived Go programs that allocate the provider's whole schema:
  // collecting garbage a quarter as often costs ~0.1 GB more memory and saves ~25 % of a plan's CPU (measured on
  // 2 cores). A GOGC of the user's own wins.
  env.GOGC ??= "400";
  const userConfig = process.env.TF_CLI_CONFIG_FILE ?? join(homedir(), ".terraformrc");
  if (existsSync(userConfig)) {
    log(`using the Terraform CLI config ${userConfig}`);
    return env;
  }
  const mirror = findProviderMirror();
  if (!mirror) {
    log("no local provider mirror found (set TF_PROVIDER_MIRROR); terraform init will use the registry");
    return env;
  }
  const configFile = join(workDir, CLI_CONFIG_FILE);
  writeFileSync(configFile, cliConfig(mirror));
  log(`installing hashicorp/aws from the mirror ${mirror}`);
  return { ...env, TF_CLI_CONFIG_FILE: configFile };
}

/** A directory in Terraform's filesystem-mirror layout that holds hashicorp/aws. */
export function findProviderMirror(): string | undefined {
  const candidates = [
    process.env.TF_PROVIDER_MIRROR,
    "/opt/tf-plugins",
    join(homedir(), ".terraform.d/plugins"),
    join(homedir(), ".local/share/terraform/plugins"),
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
  ];
  return candidates.find((dir) => dir && existsSync(join(dir, "registry.terraform.io/hashicorp/aws")));
}

export function cliConfig(mirror: string): string {
  return [
    "provider_installation {",
    `  filesystem_mirror {`,
    `    path    = ${JSON.stringify(mirror)}`,
    `    include = ["registry.terraform.io/hashicorp/aws"]`,
    "  }",
    "  direct {",
    `    exclude = ["registry.terraform.io/hashicorp/aws"]`,
    "  }",
    "}",
    "",
  ].join("\n");
}

async function timed<T>(log: Log, step: string, action: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await action();
  log(`${step}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  shell?: boolean;
}

/** Runs a command; resolves with its stdout, rejects with the step name and the end of its output. */
export function run(step: string, command: string, args: string[], options: RunOptions): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      const out = Buffer.concat(stdout).toString();
      if (code === 0) return resolvePromise(out);
      // Terraform writes its errors to stderr; the plan itself (stdout) would bury them.
      const errors = Buffer.concat(stderr).toString().trim() || out.trim();
      const tail = errors.split("\n").slice(-40).join("\n");
      reject(new Error(`${step} failed (exit ${code}):\n${tail}`));
    });
  });
}
