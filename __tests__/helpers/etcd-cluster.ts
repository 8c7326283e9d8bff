import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./plan";

export interface EtcdMember {
  readonly name: string;
  /** Each member has its own loopback address, so members can be told apart by IP. */
  readonly ip: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly metricsUrl: string;
  readonly dataDir: string;
  process?: ChildProcess;
}

let nextPortBlock = 0;

/**
 * A real etcd cluster (Debian's etcd-server) on loopback addresses, started
 * and cleaned up by the test. Plain HTTP: the scripts' TLS flags are optional.
 */
export class LocalEtcdCluster {
  readonly dir = tempDir("etcd");
  readonly members: EtcdMember[] = [];
  private readonly port = 20000 + ((process.pid * 7 + nextPortBlock++ * 101) % 20000);

  static async start(size = 3): Promise<LocalEtcdCluster> {
    const cluster = new LocalEtcdCluster();
    for (let i = 0; i < size; i++) cluster.members.push(cluster.member(`m${i}`, i));
    const initialCluster = cluster.members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
    for (const m of cluster.members) cluster.launch(m, initialCluster, "new");
    await cluster.waitHealthy(cluster.members);
    return cluster;
  }

  member(name: string, index: number): EtcdMember {
    const ip = `127.0.0.${11 + index}`;
    return {
      name,
      ip,
      clientUrl: `http://${ip}:${this.port}`,
      peerUrl: `http://${ip}:${this.port + 1}`,
      metricsUrl: `http://${ip}:${this.port + 2}/metrics`,
      dataDir: join(this.dir, name),
    };
  }

  launch(member: EtcdMember, initialCluster: string, state: "new" | "existing", token = "test-cluster"): void {
    member.process = spawn(
      "etcd",
      [
        `--name=${member.name}`,
        `--data-dir=${member.dataDir}`,
        `--listen-client-urls=${member.clientUrl}`,
        `--advertise-client-urls=${member.clientUrl}`,
        `--listen-peer-urls=${member.peerUrl}`,
        `--initial-advertise-peer-urls=${member.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-state=${state}`,
        `--initial-cluster-token=${token}`,
        `--listen-metrics-urls=${member.metricsUrl.replace("/metrics", "")}`,
        "--log-level=error",
      ],
      { stdio: "ignore" },
    );
  }

  endpoints(members = this.members.filter((m) => m.process)): string {
    return members.map((m) => m.clientUrl).join(",");
  }

  etcdctl(args: string[], endpoints = this.endpoints()): { status: number | null; stdout: string; stderr: string } {
    const result = spawnSync("etcdctl", [`--endpoints=${endpoints}`, "--command-timeout=5s", ...args], { encoding: "utf8", env: { ...process.env, ETCDCTL_API: "3" } });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  put(key: string, value: string): void {
    const result = this.etcdctl(["put", key, value]);
    if (result.status !== 0) throw new Error(`etcdctl put failed: ${result.stderr}`);
  }

  keys(prefix: string, endpoints?: string): string[] {
    return this.etcdctl(["get", prefix, "--prefix", "--keys-only"], endpoints).stdout.split("\n").filter(Boolean);
  }

  /**
   * `etcdctl member add`, retried: etcd refuses a reconfiguration ("unhealthy
   * cluster") until its members have been connected for a few seconds.
   */
  async addMember(member: EtcdMember, endpoints = this.endpoints()): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const result = this.etcdctl(["member", "add", member.name, `--peer-urls=${member.peerUrl}`], endpoints);
      if (result.status === 0) return;
      if (Date.now() > deadline) throw new Error(`member add ${member.name} failed: ${result.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  memberNames(): string[] {
    return this.etcdctl(["member", "list", "-w", "simple"]).stdout.split("\n").filter(Boolean).map((l) => l.split(", ")[2]);
  }

  async kill(member: EtcdMember): Promise<void> {
    const child = member.process;
    member.process = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise((resolve) => {
      child.once("exit", resolve);
      child.kill("SIGKILL");
    });
  }

  async waitHealthy(members: EtcdMember[], timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.etcdctl(["endpoint", "health"], this.endpoints(members)).status === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`etcd members ${members.map((m) => m.name).join(", ")} did not become healthy`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
