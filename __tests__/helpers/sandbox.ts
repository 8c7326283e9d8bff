import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import { tempDir } from "./plan";

const FAKES = join(__dirname, "../bootstrap/fakes");

export interface SandboxNode {
  readonly instanceId: string;
  readonly hostname: string;
  readonly ip: string;
  readonly root: string;
}

export interface RunResult {
  readonly node: SandboxNode;
  readonly code: number | null;
  readonly output: string;
}

/**
 * A sandbox where real node scripts run against fake AWS, kubeadm and host
 * tools that share state, as several EC2 instances would share AWS.
 */
export class Sandbox {
  readonly dir = tempDir("sandbox");
  readonly state = join(this.dir, "aws");
  readonly downloads = join(this.dir, "downloads");

  constructor() {
    mkdirSync(join(this.state, "instances"), { recursive: true });
    mkdirSync(this.downloads, { recursive: true });
    writeFileSync(join(this.state, "calls.log"), "");
  }

  /**
   * A node whose root holds the files of the rendered cloud-config, as
   * cloud-init writes them, with the environment file's waits shortened.
   */
  addNode(index: number, cloudConfig: string, role = "control-plane", envOverrides: Record<string, string> = {}): SandboxNode {
    const node = { instanceId: `i-node${index}`, hostname: `ip-10-0-0-${10 + index}.eu-west-1.compute.internal`, ip: `10.0.0.${10 + index}`, root: join(this.dir, `node${index}`) };
    const config = parse(cloudConfig.replace(/^#cloud-config\n/, "")) as { write_files: Array<{ path: string; content: string; permissions: string }> };
    for (const file of config.write_files) {
      const path = join(node.root, file.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
      chmodSync(path, parseInt(file.permissions, 8));
    }
    for (const dir of ["etc/apt/sources.list.d", "etc/kubernetes"]) mkdirSync(join(node.root, dir), { recursive: true });
    writeFileSync(join(node.root, "etc/hosts"), "127.0.0.1 localhost\n");
    const overrides = { POLL_SECONDS: "0.2", CLUSTER_WAIT_SECONDS: "30", RETRY_DELAY_SECONDS: "0", ...envOverrides };
    const envFile = join(node.root, "etc/kubeadm-aws/node.env");
    let env = readFileSync(envFile, "utf8");
    for (const [key, value] of Object.entries(overrides)) {
      const line = `${key}='${value}'`;
      env = new RegExp(`^${key}=`, "m").test(env) ? env.replace(new RegExp(`^${key}=.*$`, "m"), line) : `${env}${line}\n`;
    }
    writeFileSync(envFile, env);
    this.setInstance(node, "running", role);
    return node;
  }

  setInstance(node: Pick<SandboxNode, "instanceId" | "hostname" | "ip">, state: string, role = "control-plane"): void {
    writeFileSync(join(this.state, "instances", node.instanceId), `${state} ${node.hostname} ${node.ip} ${role}\n`);
  }

  run(node: SandboxNode, script: string, env: Record<string, string> = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn("bash", [join(node.root, "opt/kubeadm-aws/bin", script)], {
        env: {
          ...process.env,
          PATH: `${FAKES}:${process.env.PATH}`,
          KUBEADM_AWS_ROOT: node.root,
          FAKE_STATE: this.state,
          FAKE_DOWNLOADS: this.downloads,
          FAKE_INSTANCE_ID: node.instanceId,
          FAKE_HOSTNAME: node.hostname,
          FAKE_IP: node.ip,
          ...env,
        },
      });
      let output = "";
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
      child.on("close", (code) => resolve({ node, code, output }));
    });
  }

  /** Calls recorded by the fakes, one line each: "<instance> <command> <args>". */
  calls(filter?: RegExp): string[] {
    const lines = readFileSync(join(this.state, "calls.log"), "utf8").split("\n").filter(Boolean);
    return filter ? lines.filter((l) => filter.test(l)) : lines;
  }

  ssmValue(name: string): string | undefined {
    const dir = join(this.state, "ssm", name.replace(/\//g, "%2F"));
    if (!existsSync(dir)) return undefined;
    const latest = readdirSync(dir).filter((f) => /^v\d+$/.test(f)).length;
    return readFileSync(join(dir, `v${latest}`), "utf8");
  }

  secret(name: string): string | undefined {
    const file = join(this.state, "secrets", name.replace(/\//g, "_"));
    return existsSync(file) ? readFileSync(file, "utf8") : undefined;
  }

  file(relative: string): string {
    return readFileSync(join(this.state, relative), "utf8");
  }

  exists(relative: string): boolean {
    return existsSync(join(this.state, relative));
  }
}
