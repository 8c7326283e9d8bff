import { ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KubernetesBinaries, pathWith } from "./binaries";
import { adaptContainerdConfig, kubeletHostFlags } from "./host-deviations";
import { LabNode, runOk, waitFor } from "./lab";

/**
 * What systemd does on a real node, done for a lab node: containerd as a
 * service, with the images kubeadm deploys imported (built locally by
 * build-images.sh), and the kubelet started once kubeadm has written its
 * flags. The kubelet then runs kubeadm's static pods in containerd, as on EC2.
 */
export class NodeRuntime {
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

  /** Starts containerd with the node's rendered configuration, and imports the images in `archives`. */
  async startContainerd(renderedConfig: string, archives: string[]): Promise<void> {
    await this.node.write("/etc/containerd/config.toml", adaptContainerdConfig(renderedConfig));
    this.node.start("containerd", ["containerd", "--config", "/etc/containerd/config.toml"], this.env);
    await waitFor("containerd's socket", async () => ((await this.node.exec(["test", "-S", "/run/containerd/containerd.sock"])).code === 0 ? true : undefined), 20_000);
    for (const archive of archives) await this.node.execOk(["ctr", "-n", "k8s.io", "images", "import", archive], { env: this.env, timeoutMs: 120_000 });
  }

  /**
   * Starts the kubelet once kubeadm has written its flags and config, as
   * systemd restarts it until then, and again whenever it exits, unless it was
   * stopped through systemctl (the offline cluster's stand-in marks that).
   */
  supervise(): void {
    const tick = () => {
      const ready = this.written("/var/lib/kubelet/kubeadm-flags.env") && this.written("/var/lib/kubelet/config.yaml");
      if (!this.kubelet && ready && !this.kubeletStopped()) {
        this.startKubelet().catch((error) => appendFileSync(this.node.logFile("kubelet"), `lab: the kubelet did not start: ${error}\n`));
      }
    };
    this.timer = setInterval(tick, 300);
    tick();
  }

  /** Stops supervising; after a power cut, supervise() starts the kubelet again as a boot does. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.kubelet = undefined;
  }

  /** The id of a static pod's running container, if one runs. */
  async runningContainer(name: string): Promise<string | undefined> {
    const ps = await this.node.exec(["crictl", "ps", "--name", `^${name}$`, "--state", "running", "-q"], { env: this.env });
    return ps.code === 0 ? ps.output.split("\n").find((l) => /^[0-9a-f]{12,}$/.test(l)) : undefined;
  }

  /**
   * Restarts a static pod as the kubelet does when its manifest changes (an
   * annotation of the lab's changes; the kubelet watches the folder), with the
   * old container stopped at once. Stopping the container alone would wait out
   * the kubelet's crash back-off. Resolves once the new container runs.
   */
  async restartStaticPod(name: string): Promise<void> {
    const before = await this.runningContainer(name);
    if (!before) throw new Error(`no static pod ${name} runs on ${this.node.name}`);
    const manifest = `/etc/kubernetes/manifests/${name}.yaml`;
    await this.node.execOk(["bash", "-euo", "pipefail", "-c", RESTART_STATIC_POD, "restart", manifest, String(Date.now())]);
    // The old pod's graceful stop would take the apiserver half a minute; the test wants the new process now.
    await this.node.exec(["crictl", "stop", "--timeout", "1", before], { env: this.env });
    await waitFor(`a new ${name} container on ${this.node.name}`, async () => {
      const now = await this.runningContainer(name);
      return now && now !== before ? now : undefined;
    }, 120_000);
  }

  /** Stops a static pod for good: its manifest leaves the kubelet's folder, and the kubelet stops the pod. */
  async stopStaticPod(name: string): Promise<void> {
    await this.node.execOk(["bash", "-c", `mkdir -p /etc/kubernetes/lab-stopped && mv /etc/kubernetes/manifests/${name}.yaml /etc/kubernetes/lab-stopped/`]);
    await waitFor(`${name} to stop on ${this.node.name}`, async () => ((await this.runningContainer(name)) ? undefined : true), 60_000);
  }

  /** Starts a static pod stopped by stopStaticPod again. */
  async startStaticPod(name: string): Promise<void> {
    await this.node.execOk(["mv", `/etc/kubernetes/lab-stopped/${name}.yaml`, "/etc/kubernetes/manifests/"]);
    await waitFor(`${name} to run on ${this.node.name}`, async () => ((await this.runningContainer(name)) ? true : undefined), 120_000);
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

  /** Stopped through the offline cluster's systemctl stand-in. */
  private kubeletStopped(): boolean {
    return this.written("/var/lib/lab-systemd/kubelet-stopped") !== undefined;
  }

  private async startKubelet(): Promise<void> {
    this.kubelet = {} as ChildProcess; // claimed: one start only
    await runOk(["bash", "-c", CREATE_CGROUP_ROOT, "cgroup-root", this.node.cgroupRoot]);
    // Stopped meanwhile (a stop finds no kubelet to kill while this one is still being prepared).
    if (this.kubeletStopped()) {
      this.kubelet = undefined;
      return;
    }
    const kubelet = this.node.start("kubelet", ["kubelet", ...this.kubeletFlags(), ...kubeletHostFlags(this.node.cgroupRoot)], this.env);
    kubelet.on("exit", () => {
      if (this.kubelet === kubelet) this.kubelet = undefined;
    });
    this.kubelet = kubelet;
  }
}

/** Writes a static pod's manifest with a new value of the lab's restart annotation, whole (the kubelet may read it at any time). */
const RESTART_STATIC_POD = `
manifest=$1 stamp=$2 staged=/etc/kubernetes/lab-restart.yaml
grep -q '^  annotations:$' "$manifest"
sed '/^    lab.kubeadm-aws.io\\/restarted: /d' "$manifest" | sed "/^  annotations:$/a\\    lab.kubeadm-aws.io/restarted: \\"$stamp\\"" >"$staged"
mv "$staged" "$manifest"`;

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
