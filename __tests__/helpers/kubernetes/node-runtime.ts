import { ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { KubernetesBinaries, pathWith } from "./binaries";
import { adaptContainerdConfig, kubeletHostFlags } from "./host-deviations";
import { LabNode, runOk, waitFor } from "./lab";

/**
 * What systemd and the kubelet do on a real node, done for a lab node:
 * containerd as a service, the kubelet started once kubeadm has written its
 * flags, and the control-plane static pods run as host processes with the
 * exact commands of kubeadm's manifests.
 */
export class NodeRuntime {
  private readonly staticPods = new Map<string, StaticPod>();
  /** Static pods stopped on purpose, which the supervisor leaves stopped. */
  private readonly stopped = new Set<string>();
  private kubelet?: ChildProcess;
  private timer?: NodeJS.Timeout;
  readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly node: LabNode,
    readonly binaries: KubernetesBinaries,
  ) {
    this.env = { ...process.env, PATH: pathWith(binaries) };
  }

  /** A file the node wrote, read from its overlay (no process needed). */
  written(path: string): string | undefined {
    const file = join(this.node.dir, "upper", path);
    return existsSync(file) ? readFileSync(file, "utf8") : undefined;
  }

  async startContainerd(renderedConfig: string): Promise<void> {
    await this.node.write("/etc/containerd/config.toml", adaptContainerdConfig(renderedConfig));
    this.node.start("containerd", ["containerd", "--config", "/etc/containerd/config.toml"], this.env);
    await waitFor("containerd's socket", async () => ((await this.node.exec(["test", "-S", "/run/containerd/containerd.sock"])).code === 0 ? true : undefined), 20_000);
  }

  /**
   * Watches for what kubeadm writes, as systemd and the kubelet would react:
   * starts the kubelet once its flags exist, and each static pod's command
   * when its manifest appears or changes.
   */
  supervise(options: { staticPods: boolean }): void {
    const tick = () => {
      if (options.staticPods) this.syncStaticPods();
      if (!this.kubelet && this.written("/var/lib/kubelet/kubeadm-flags.env") && this.written("/var/lib/kubelet/config.yaml")) {
        this.startKubelet(options.staticPods).catch((error) => appendFileSync(this.node.logFile("kubelet"), `lab: the kubelet did not start: ${error}\n`));
      }
    };
    this.timer = setInterval(tick, 300);
    tick();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Restarts one static pod's process, as the kubelet does when its manifest changes. */
  async restartStaticPod(name: string): Promise<void> {
    await this.stopStaticPod(name);
    this.stopped.delete(name);
    this.syncStaticPods();
  }

  /** Stops one static pod's process for good, as if its container died and stayed down. */
  async stopStaticPod(name: string): Promise<void> {
    const pod = this.staticPods.get(name);
    if (!pod) throw new Error(`no static pod ${name} runs on ${this.node.name}`);
    this.stopped.add(name);
    await this.stopProcess(pod.process);
    this.staticPods.delete(name);
  }

  /** The kubelet's command line as kubeadm's systemd drop-in (10-kubeadm.conf) builds it, before this host's deviations. */
  kubeletFlags(): string[] {
    const flagsFile = this.written("/var/lib/kubelet/kubeadm-flags.env") ?? "";
    const kubeadmFlags = /KUBELET_KUBEADM_ARGS="(.*)"/.exec(flagsFile)?.[1].split(" ").filter(Boolean) ?? [];
    return [
      "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
      "--kubeconfig=/etc/kubernetes/kubelet.conf",
      "--config=/var/lib/kubelet/config.yaml",
      ...kubeadmFlags,
    ];
  }

  private syncStaticPods(): void {
    const dir = join(this.node.dir, "upper/etc/kubernetes/manifests");
    if (!existsSync(dir)) return;
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
      const manifest = readFileSync(join(dir, file), "utf8");
      const name = file.replace(/\.yaml$/, "");
      if (this.stopped.has(name)) continue;
      const pod = this.staticPods.get(name);
      if (pod && pod.exitedAt === undefined) {
        // A changed manifest: stop the old process; a later tick starts the new one once it is gone (ports are free).
        if (pod.manifest !== manifest && !pod.stopping) {
          pod.stopping = true;
          void this.stopProcess(pod.process);
        }
        continue;
      }
      // An exited pod with the same manifest restarts after a back-off, as the kubelet restarts a crashed container
      // (doubling from 1 s, capped at 10 s: the kubelet's 10 s to 5 min would only slow the tests).
      const restarts = pod && pod.manifest === manifest ? pod.restarts + 1 : 0;
      if (pod && restarts > 0 && Date.now() < pod.exitedAt! + Math.min(1_000 * 2 ** (restarts - 1), 10_000)) continue;
      let command: string[];
      try {
        command = (parse(manifest) as { spec: { containers: Array<{ command: string[] }> } }).spec.containers[0].command;
      } catch {
        continue; // half written; the next tick reads it whole
      }
      const started: StaticPod = { manifest, process: this.node.start(name, command, this.env), restarts, stopping: false };
      started.process.once("exit", () => (started.exitedAt = Date.now()));
      this.staticPods.set(name, started);
    }
  }

  private async startKubelet(staticPods: boolean): Promise<void> {
    this.kubelet = {} as ChildProcess; // claimed: one start only
    await runOk(["bash", "-c", CREATE_CGROUP_ROOT, "cgroup-root", this.node.cgroupRoot]);
    this.kubelet = this.node.start("kubelet", ["kubelet", ...this.kubeletFlags(), ...kubeletHostFlags(this.node.cgroupRoot, { staticPods })], this.env);
  }

  /** SIGTERM, then SIGKILL after a short grace period (kube-apiserver drains for up to a minute). */
  private async stopProcess(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    // The process is lab.sh's nsenter, which exec'd the program: the signal reaches it.
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  }
}

interface StaticPod {
  readonly manifest: string;
  readonly process: ChildProcess;
  /** How often it has restarted with this manifest. */
  readonly restarts: number;
  stopping: boolean;
  exitedAt?: number;
}

/** Creates the kubelet's cgroup root in every cgroup v1 hierarchy; cpuset needs its cpus and mems filled. */
const CREATE_CGROUP_ROOT = `
set -euo pipefail
for hierarchy in /sys/fs/cgroup/*/; do
  [[ -e $hierarchy/cgroup.procs ]] || continue
  [[ $(stat -f -c %T "$hierarchy") == cgroup2fs ]] && continue
  mkdir -p "$hierarchy$1"
  if [[ -e $hierarchy/cpuset.cpus ]]; then
    cat "$hierarchy/cpuset.cpus" >"$hierarchy$1/cpuset.cpus"
    cat "$hierarchy/cpuset.mems" >"$hierarchy$1/cpuset.mems"
  fi
done`;
