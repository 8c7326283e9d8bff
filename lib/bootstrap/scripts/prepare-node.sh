#!/usr/bin/env bash
# Node preparation shared by control-plane and worker nodes: the host settings
# kubeadm needs, containerd, pinned Kubernetes packages and the AWS CLI.
# Sourced by the bootstrap scripts after lib.sh; each function is one step.

# The name the AWS cloud controller manager expects: the EC2 private DNS name.
set_hostname() {
  local name
  name=$(retry 10 imds meta-data/local-hostname)
  [[ -n $name ]] || die "instance metadata gave no local-hostname"
  hostnamectl set-hostname "$name"
}

disable_swap() {
  swapoff -a
  [[ -f "$ROOT/etc/fstab" ]] && sed -i '/\sswap\s/ s/^[^#]/#&/' "$ROOT/etc/fstab"
  return 0
}

# Modules and sysctls are written as files by cloud-init; this loads them now.
load_kernel_settings() {
  modprobe overlay
  modprobe br_netfilter
  sysctl --system >/dev/null
}

install_packages() {
  retry_for "$INTERNET_WAIT_SECONDS" apt_get update -q
  retry 5 apt_get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold \
    apt-transport-https ca-certificates curl gpg jq gettext-base
}

# containerd as lib/versions.ts pairs it with this minor:
# - "ubuntu": the distribution's package (containerd 1.7 on Ubuntu 24.04),
#   held, so unattended-upgrades never replaces it under a running kubelet;
#   a node launched later gets the archive's newest 1.7 then;
# - "release": containerd 2 and runc from their upstream releases at the exact
#   versions pinned, checked by sha256 (Kubernetes 1.36 and later do not
#   support containerd 1.x).
install_containerd() {
  if [[ $CONTAINERD_SOURCE == ubuntu ]]; then
    retry 5 apt_get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold containerd
    retry 5 apt-mark hold containerd >/dev/null
    return 0
  fi
  local arch dir="$STATE_DIR/run/containerd" containerd_sha runc_sha
  arch=$(dpkg --print-architecture)
  containerd_sha="CONTAINERD_SHA256_${arch^^}" runc_sha="RUNC_SHA256_${arch^^}"
  mkdir -p "$dir"
  download_verified "https://github.com/containerd/containerd/releases/download/v$CONTAINERD_VERSION/containerd-$CONTAINERD_VERSION-linux-$arch.tar.gz" \
    "${!containerd_sha}" "$dir/containerd.tar.gz"
  download_verified "https://github.com/opencontainers/runc/releases/download/v$RUNC_VERSION/runc.$arch" "${!runc_sha}" "$dir/runc"
  mkdir -p "$ROOT/usr/local"
  tar -xzf "$dir/containerd.tar.gz" -C "$ROOT/usr/local" --no-same-owner
  install -D -m 0755 "$dir/runc" "$ROOT/usr/local/sbin/runc"
  rm -rf "$dir"
  systemctl daemon-reload
}

configure_containerd() {
  install -D -m 0644 "$ROOT/etc/kubeadm-aws/containerd-config.toml" "$ROOT/etc/containerd/config.toml"
  systemctl restart containerd
  systemctl enable containerd
}

# The cluster's version in SSM parameter NAME, read with retries: empty when
# no node has recorded one yet (no cluster).
recorded_version() {
  local recorded status attempt
  for attempt in 1 2 3 4 5; do
    status=0
    recorded=$(ssm_get "$1") || status=$?
    ((status == 0)) && { printf '%s\n' "$recorded" && return 0; }
    ((status == 3)) && return 0
    sleep "$((RETRY_DELAY_SECONDS * attempt))"
  done
  die "cannot read the cluster's version from SSM ($1)"
}

# minor_of VERSION: "1.35" of "v1.35.4"; dies on anything else.
minor_of() {
  [[ $1 =~ ^v?([0-9]+)\.([0-9]+)\. ]] || die "the cluster's recorded version \"$1\" is not a Kubernetes version"
  echo "${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
}

# next_minor MINOR: "1.36" of "1.35".
next_minor() {
  echo "${1%%.*}.$((${1#*.} + 1))"
}

# Workers heartbeat their launch hook while they wait: it would abandon the launch after an hour.
launch_hook_heartbeat() {
  aws_cli autoscaling record-lifecycle-action-heartbeat --auto-scaling-group-name "$AUTO_SCALING_GROUP" \
    --lifecycle-hook-name "$LAUNCH_HOOK" --instance-id "$INSTANCE_ID" >/dev/null || log "cannot record a launch hook heartbeat"
}

# refuse_version_skew ROLE: a node configured for another minor than the
# cluster runs must not join it: a kubelet newer than the apiserver, or a
# control-plane node two minors away, breaks the version skew policy. The plan
# refuses such changes; this stops a node that slipped through (say, a node
# group in another stack), loudly, before it installs anything.
#
# The next minor is a minor upgrade in progress (README, "Upgrading"): a
# control-plane node goes on (control-plane.sh joins it once the cluster's
# configuration names its minor); a worker waits, heartbeating its launch hook,
# until every control-plane node runs its minor.
refuse_version_skew() {
  local role=$1 recorded running deadline=$((SECONDS + ${MINOR_UPGRADE_WAIT_SECONDS:-0})) heartbeat=$SECONDS
  while :; do
    recorded=$(recorded_version "$SSM_KUBERNETES_VERSION")
    [[ -n $recorded ]] || return 0 # no cluster yet
    running=$(minor_of "$recorded")
    [[ $running == "$KUBERNETES_MINOR" ]] && return 0
    [[ $(next_minor "$running") == "$KUBERNETES_MINOR" ]] ||
      die "this node is configured for Kubernetes $KUBERNETES_MINOR, but the cluster runs $recorded; set kubernetesVersion to $running, or to the next minor $(next_minor "$running") to upgrade"
    [[ $role == control-plane ]] && return 0
    ((SECONDS < deadline)) ||
      die "the control plane still runs $recorded ${MINOR_UPGRADE_WAIT_SECONDS}s after this $KUBERNETES_MINOR node started; its upgrade is stuck (README, \"When a rollout is stuck\")"
    log "waiting until every control-plane node runs Kubernetes $KUBERNETES_MINOR (the cluster's recorded version is $recorded)"
    if ((SECONDS - heartbeat >= ${HEARTBEAT_SECONDS:-300})); then launch_hook_heartbeat && heartbeat=$SECONDS; fi
    sleep "$POLL_SECONDS"
  done
}

# verify_release_key FILE: the downloaded key must be exactly the one key whose
# fingerprint the bundle pins; apt trusts every key in a signed-by keyring.
verify_release_key() {
  local home keys
  home=$(mktemp -d)
  keys=$(GNUPGHOME=$home gpg --batch --show-keys --with-colons "$1" 2>/dev/null | awk -F: '$1 == "pub" {primary = 1; next} $1 == "fpr" && primary {print $10; primary = 0}') || true
  rm -rf "$home"
  [[ $keys == "$KUBERNETES_APT_KEY_FINGERPRINT" ]] ||
    die "the key at $KUBERNETES_APT_REPO/Release.key is not the pinned pkgs.k8s.io key $KUBERNETES_APT_KEY_FINGERPRINT (found: ${keys//$'\n'/ }); refusing to trust it"
}

# kubeadm, kubelet and kubectl from pkgs.k8s.io, at the patch the node is
# configured for (lib/versions.ts), pinned and held.
install_kubernetes() {
  local keyring="$ROOT/etc/apt/keyrings/kubernetes-apt-keyring.gpg" version=$KUBERNETES_PATCH_VERSION
  mkdir -p "$(dirname "$keyring")"
  retry 5 curl -fsSL "$KUBERNETES_APT_REPO/Release.key" -o "$STATE_DIR/kubernetes-release.key"
  verify_release_key "$STATE_DIR/kubernetes-release.key"
  gpg --batch --yes --dearmor -o "$keyring" "$STATE_DIR/kubernetes-release.key"
  echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] $KUBERNETES_APT_REPO/ /" >"$ROOT/etc/apt/sources.list.d/kubernetes.list"
  retry 5 apt_get update -q
  log "installing kubelet, kubeadm and kubectl $version"
  local pin="=${version#v}-*"
  retry 5 apt_get install -y -q --allow-change-held-packages "kubelet$pin" "kubeadm$pin" "kubectl$pin"
  retry 5 apt-mark hold kubelet kubeadm kubectl >/dev/null
  systemctl enable kubelet
}

# prepare_host ROLE: everything but the Kubernetes packages. A node of another
# minor than the cluster stops (or waits) first, before it installs anything.
prepare_host() {
  run_step version-skew refuse_version_skew "$1"
  run_step install-packages install_packages
  run_step set-hostname set_hostname
  run_step disable-swap disable_swap
  run_step kernel-settings load_kernel_settings
  run_step install-containerd install_containerd
  run_step containerd configure_containerd
}
