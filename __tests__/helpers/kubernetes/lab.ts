import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempDir } from "../plan";

const LAB_SCRIPT = join(__dirname, "../../kubernetes/lab.sh");

export interface CommandResult {
  readonly code: number | null;
  readonly output: string;
}

/** Runs a command to its end, collecting stdout and stderr together. */
export function run(command: string[], options: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    // Its own process group, so that a timeout kills what it started too.
    const child = spawn(command[0], command.slice(1), {
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    const kill = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const timer = options.timeoutMs ? setTimeout(kill, options.timeoutMs) : undefined;
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, output });
    });
    if (options.input !== undefined) {
      // A program may exit without reading its input.
      child.stdin!.on("error", () => {});
      child.stdin!.end(options.input);
    }
  });
}

/** Like `run`, but fails with the command's output unless it exits 0. */
export async function runOk(command: string[], options: Parameters<typeof run>[1] = {}): Promise<string> {
  const result = await run(command, options);
  if (result.code !== 0) throw new Error(`${command.join(" ")} exited ${result.code}:\n${result.output}`);
  return result.output;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, pollMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Nodes in their own network, mount and UTS namespaces, on one bridge
 * (lab.sh). Names are unique per process, so two test runs never collide.
 */
export class Lab {
  /** Four hex digits: interface names (v<node>, kaws-<lab>-<node>) have 15 characters. */
  readonly name = randomBytes(2).toString("hex");
  readonly dir = tempDir("lab");
  private readonly nodes: LabNode[] = [];

  static async create(): Promise<Lab> {
    const lab = new Lab();
    await runOk([LAB_SCRIPT, "up", lab.name, String(process.pid)]);
    return lab;
  }

  /** A node at 10.77.0.<index + 10>, named like an EC2 instance's private DNS name. */
  async addNode(name: string, index: number): Promise<LabNode> {
    const ip = `10.77.0.${index + 10}`;
    const node = new LabNode(this, name, ip, `ip-10-77-0-${index + 10}.eu-west-1.compute.internal`, join(this.dir, name));
    await runOk([LAB_SCRIPT, "node", this.name, name, ip, node.hostname, node.dir]);
    this.nodes.push(node);
    return node;
  }

  /** Starts a long-running program on the bridge's side (the load balancer's stand-in), its output in <lab>/<name>.log. */
  startOnGateway(name: string, command: string[]): ChildProcess {
    const log = openSync(join(this.dir, `${name}.log`), "a");
    const child = spawn(LAB_SCRIPT, ["gateway", this.name, ...command], { stdio: ["ignore", log, log] });
    closeSync(log);
    return child;
  }

  /** Runs a command on the bridge's side of the lab: a client that reaches every node. */
  gateway(command: string[], options: Parameters<typeof run>[1] = {}): Promise<CommandResult> {
    return run([LAB_SCRIPT, "gateway", this.name, ...command], options);
  }

  /** A power cut: every process of the node dies at once; its files stay, so it can boot again. */
  async powerOff(node: LabNode): Promise<void> {
    await runOk([LAB_SCRIPT, "poweroff", this.name, node.name]);
  }

  /** Kills every process of the node and deletes it, as EC2 terminates an instance. */
  async remove(node: LabNode): Promise<void> {
    await runOk([LAB_SCRIPT, "remove", this.name, node.name]);
    this.nodes.splice(this.nodes.indexOf(node), 1);
  }

  async destroy(): Promise<void> {
    await run([LAB_SCRIPT, "down", this.name]);
    // KUBEADM_AWS_KEEP_LAB=1 keeps the nodes' files and logs for a post-mortem.
    if (!process.env.KUBEADM_AWS_KEEP_LAB) rmSync(this.dir, { recursive: true, force: true });
  }
}

export class LabNode {
  private readonly processes: ChildProcess[] = [];

  constructor(
    readonly lab: Lab,
    readonly name: string,
    readonly ip: string,
    readonly hostname: string,
    /** Where the node's writes land (upper/), its logs and containerd's root. */
    readonly dir: string,
  ) {
    mkdirSync(join(dir, "logs"), { recursive: true });
  }

  exec(command: string[], options: Parameters<typeof run>[1] = {}): Promise<CommandResult> {
    return run([LAB_SCRIPT, "exec", this.lab.name, this.name, ...command], options);
  }

  execOk(command: string[], options: Parameters<typeof run>[1] = {}): Promise<string> {
    return runOk([LAB_SCRIPT, "exec", this.lab.name, this.name, ...command], options);
  }

  /** Starts a long-running program on the node, its output in logs/<name>.log. */
  start(name: string, command: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const log = openSync(this.logFile(name), "a");
    const child = spawn(LAB_SCRIPT, ["exec", this.lab.name, this.name, ...command], { env, stdio: ["ignore", log, log] });
    closeSync(log);
    this.processes.push(child);
    return child;
  }

  logFile(name: string): string {
    return join(this.dir, "logs", `${name}.log`);
  }

  log(name: string): string {
    return existsSync(this.logFile(name)) ? readFileSync(this.logFile(name), "utf8") : "";
  }

  /** A file as the node sees it. */
  async read(path: string): Promise<string> {
    return this.execOk(["cat", path]);
  }

  /** Writes a file on the node, creating its directory. */
  async write(path: string, content: string | Buffer, mode = "0644"): Promise<void> {
    const staged = join(this.dir, "staged", path);
    mkdirSync(dirname(staged), { recursive: true });
    writeFileSync(staged, content);
    await this.execOk(["install", "-D", "-m", mode, staged, path]);
  }

  /** The kubelet's cgroup root, one per node: two kubelets that share one kill each other's pods. */
  get cgroupRoot(): string {
    return `/kaws-${this.lab.name}-${this.name}`;
  }
}
