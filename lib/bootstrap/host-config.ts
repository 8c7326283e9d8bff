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
