/**
 * Every way the real-binary tests run a node differently from an EC2 instance,
 * each with its reason. Everything else runs as rendered. Keep this the only
 * place such differences live.
 */

/** containerd's rendered configuration, adapted to this host. */
export function adaptContainerdConfig(rendered: string): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri"]\n';
  const pinnedPause = /(sandbox_image = "[^"@]+)@sha256:[0-9a-f]{64}"/;
  if (!rendered.includes(cri) || !rendered.includes("SystemdCgroup = true") || !pinnedPause.test(rendered)) {
    throw new Error("the rendered containerd configuration changed shape; update host-deviations.ts");
  }
  return (
    rendered
      // Nodes pin the pause image by the publisher's digest; the lab's own pause image
      // (build-images.sh) has another, so the lab names it by its tag alone.
      .replace(pinnedPause, '$1"')
      // No systemd runs as PID 1 here, so cgroups are managed through cgroupfs.
      .replace("SystemdCgroup = true", "SystemdCgroup = false")
      // Root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj is refused, and runc
      // then fails every pod sandbox ("can't get final child's PID from pipe").
      .replace(cri, `${cri}  restrict_oom_score_adj = true\n`)
  );
}

/** Flags added to the kubelet command line that kubeadm's systemd drop-in gives. */
export function kubeletHostFlags(cgroupRoot: string): string[] {
  return [
    // This host has cgroup v1, which kubelet 1.35 refuses unless told otherwise.
    "--fail-cgroupv1=false",
    // No systemd as PID 1 (see SystemdCgroup above).
    "--cgroup-driver=cgroupfs",
    // Two kubelets that share /kubepods kill each other's pod sandboxes.
    `--cgroup-root=${cgroupRoot}`,
    // Our sysctls would change the host's kernel settings; the node's own tests check them.
    "--protect-kernel-defaults=false",
  ];
}

/**
 * kubeadm preflight checks that fail here for reasons of this host, not of our
 * configuration. Everything else in preflight must pass.
 */
export const PREFLIGHT_IGNORED = [
  // kubeadm 1.35 refuses cgroup v1, which this host has, unless the check is skipped.
  "SystemVerification",
];

/**
 * Health checks of `kubeadm upgrade apply` that fail in the real-binary suite's lab: it runs no CNI, so its nodes stay
 * NotReady, and the Job kubeadm starts to see that pods schedule cannot run. The offline cluster, whose nodes are
 * Ready, runs them.
 */
export const UPGRADE_HEALTH_IGNORED = ["ControlPlaneNodesReady", "CreateJob"];

/**
 * A `kubeadm` that adds PREFLIGHT_IGNORED to `kubeadm init`, `kubeadm join` and
 * `kubeadm upgrade apply|node` (the phases of init and join take no such flag),
 * and `upgradeHealthIgnored` to `kubeadm upgrade apply`, so our node scripts run
 * unchanged.
 */
export function kubeadmPreflightShim(realKubeadm: string, upgradeHealthIgnored: string[] = []): string {
  return [
    "#!/usr/bin/env bash",
    "# Lab stand-in for kubeadm: see __tests__/helpers/kubernetes/host-deviations.ts.",
    `if [[ ($1 == init || $1 == join) && \${2:-} != phase ]]; then`,
    `  exec ${realKubeadm} "$@" --ignore-preflight-errors=${PREFLIGHT_IGNORED.join(",")}`,
    "fi",
    `if [[ $1 == upgrade && \${2:-} == apply ]]; then`,
    `  exec ${realKubeadm} "$@" --ignore-preflight-errors=${[...PREFLIGHT_IGNORED, ...upgradeHealthIgnored].join(",")}`,
    "fi",
    `if [[ $1 == upgrade && \${2:-} == node ]]; then`,
    `  exec ${realKubeadm} "$@" --ignore-preflight-errors=${PREFLIGHT_IGNORED.join(",")}`,
    "fi",
    `exec ${realKubeadm} "$@"`,
    "",
  ].join("\n");
}
