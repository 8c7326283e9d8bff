import { ContainerdSource } from "../versions";
import { NodeEnvironment } from "./node-env";
import { SystemdUnit, containerdService } from "./systemd";

/** Host configuration files every node gets: kernel modules, sysctls and containerd. */

export const KERNEL_MODULES = ["overlay", "br_netfilter"];

/**
 * Forwarding and bridge netfilter for pod traffic, plus the kernel defaults the
 * kubelet's protectKernelDefaults (CIS 4.2.6) insists on.
 */
export const SYSCTLS: Record<string, string> = {
  "net.ipv4.ip_forward": "1",
  "net.bridge.bridge-nf-call-iptables": "1",
  "net.bridge.bridge-nf-call-ip6tables": "1",
  "vm.overcommit_memory": "1",
  "vm.panic_on_oom": "0",
  "kernel.panic": "10",
  "kernel.panic_on_oops": "1",
  "kernel.keys.root_maxkeys": "1000000",
  "kernel.keys.root_maxbytes": "25000000",
};

export function renderSysctls(): string {
  return Object.entries(SYSCTLS)
    .map(([key, value]) => `${key} = ${value}\n`)
    .join("");
}

/**
 * containerd 1.7 (Ubuntu 24.04's package) with the systemd cgroup driver the
 * kubelet uses, and the pause image kubeadm expects. Everything else keeps
 * containerd's defaults; containerd 2 migrates this version-2 file itself.
 */
export function renderContainerdConfig(pauseImage: string): string {
  return [
    "version = 2",
    "",
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${pauseImage}"`,
    "",
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '  runtime_type = "io.containerd.runc.v2"',
    "",
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    "  SystemdCgroup = true",
    "",
  ].join("\n");
}

/**
 * crictl's configuration: the node scripts reach etcd through crictl
 * (etcd.sh). Without it, crictl guesses among several runtimes' sockets and
 * warns on every call.
 */
export function renderCrictlConfig(): string {
  return ["runtime-endpoint: unix:///run/containerd/containerd.sock", "image-endpoint: unix:///run/containerd/containerd.sock", "timeout: 10", ""].join("\n");
}

/**
 * What install_containerd (prepare-node.sh) needs for a minor's containerd:
 * its environment and, for an upstream release, the systemd unit the
 * distribution's package would otherwise bring.
 */
export function containerdInstall(containerd: ContainerdSource): { env: NodeEnvironment; units: SystemdUnit[] } {
  if (containerd.source === "ubuntu") return { env: { CONTAINERD_SOURCE: "ubuntu" }, units: [] };
  return {
    env: {
      CONTAINERD_SOURCE: "release",
      CONTAINERD_VERSION: containerd.version,
      CONTAINERD_SHA256_AMD64: containerd.sha256.amd64,
      CONTAINERD_SHA256_ARM64: containerd.sha256.arm64,
      RUNC_VERSION: containerd.runc.version,
      RUNC_SHA256_AMD64: containerd.runc.sha256.amd64,
      RUNC_SHA256_ARM64: containerd.runc.sha256.arm64,
    },
    units: [containerdService()],
  };
}
