import { ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { pythonTool } from "../helpers/python-tools";

const execFileAsync = promisify(execFile);

/** What the emulator holds, by kind ("ec2:vpc", "s3:object-version", ...), as ids. */
export type Inventory = Record<string, string[]>;

export interface MotoServer {
  readonly url: string;
  /** Live resources, listed through the AWS APIs (see inventory.py). */
  inventory(region: string): Promise<Inventory>;
  stop(): Promise<void>;
  /** The server's own log, for failure messages. */
  log(): string;
}

/** Starts `moto_server` on a free loopback port; resolves once it answers. */
export async function startMotoServer(): Promise<MotoServer> {
  // Port 0: the server picks a free port and prints it, so two servers never race for one.
  const child = spawn(pythonTool("moto_server"), ["-H", "127.0.0.1", "-p", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  // A test run that dies must not leave the server behind.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`moto_server did not start within 60 s:\n${output}`)), 60_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on("data", read);
    child.stderr!.on("data", read);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`moto_server exited with ${code} before it served:\n${output}`));
    });
  });
  // Keep only the end of the request log: a full apply logs thousands of lines.
  const keep = () => (output = output.slice(-20_000));
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  await waitUntilServing(url);
  return {
    url,
    inventory: async (region) => {
      const { stdout } = await execFileAsync(pythonTool("python"), [join(__dirname, "inventory.py"), url, region], { maxBuffer: 64 * 1024 * 1024 });
      return JSON.parse(stdout) as Inventory;
    },
    stop: () => stop(child),
    log: () => output,
  };
}

async function waitUntilServing(url: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/moto-api/`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`moto_server at ${url} does not answer`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** What `after` holds that `before` did not, by kind; empty kinds left out. */
export function added(before: Inventory, after: Inventory): Inventory {
  const out: Inventory = {};
  for (const [kind, ids] of Object.entries(after)) {
    const known = new Set(before[kind] ?? []);
    const fresh = ids.filter((id) => !known.has(id));
    if (fresh.length) out[kind] = fresh;
  }
  return out;
}
