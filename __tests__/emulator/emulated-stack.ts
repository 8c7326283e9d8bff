import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { cliConfig, findProviderMirror } from "../../lib/plan/offline-plan";
import { OVERRIDE_FILE, emulatorOverride } from "./emulator-override";

export interface TerraformResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** One synthesized stack in a work directory of its own, pointed at an emulator. */
export interface EmulatedStack {
  readonly workDir: string;
  /** Limits of the emulator the override works around for this stack. */
  readonly workarounds: string[];
  terraform(...args: string[]): Promise<TerraformResult>;
}

/** Copies the stack's cdk.tf.json to `workDir` and writes the emulator override and a CLI config for the provider mirror. */
export function emulatedStack(stackDir: string, workDir: string, emulatorUrl: string): EmulatedStack {
  mkdirSync(workDir, { recursive: true });
  copyFileSync(join(stackDir, "cdk.tf.json"), join(workDir, "cdk.tf.json"));
  const { override, applied } = emulatorOverride(JSON.parse(readFileSync(join(stackDir, "cdk.tf.json"), "utf8")), emulatorUrl);
  writeFileSync(join(workDir, OVERRIDE_FILE), JSON.stringify(override, null, 2));
  // No real account, profile or credentials may leak in: only the emulator is reachable.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("AWS_")));
  Object.assign(env, { TF_IN_AUTOMATION: "1", TF_INPUT: "0", CHECKPOINT_DISABLE: "1" });
  // As the offline plan does: the user's CLI config when it exists, else one that installs from a local mirror.
  const userConfig = process.env.TF_CLI_CONFIG_FILE ?? join(homedir(), ".terraformrc");
  const mirror = findProviderMirror();
  if (!existsSync(userConfig) && mirror) {
    writeFileSync(join(workDir, "emulator.tfrc"), cliConfig(mirror));
    env.TF_CLI_CONFIG_FILE = join(workDir, "emulator.tfrc");
  }
  return { workDir, workarounds: applied, terraform: (...args) => terraform(workDir, env, args) };
}

function terraform(cwd: string, env: NodeJS.ProcessEnv, args: string[]): Promise<TerraformResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("terraform", [...args, "-no-color"], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (code) => {
      const result = { code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), seconds: (Date.now() - started) / 1000 };
      writeFileSync(join(cwd, `terraform-${args[0]}-${started}.log`), `${result.stdout}\n${result.stderr}`);
      resolve(result);
    });
  });
}

/** The end of a failed step's output, for an assertion message. */
export function tail(result: TerraformResult, lines = 40): string {
  const text = (result.stderr.trim() || result.stdout.trim()).split("\n");
  return text.slice(-lines).join("\n");
}
