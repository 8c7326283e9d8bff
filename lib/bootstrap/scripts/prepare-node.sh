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

# A node configured for another minor than the cluster runs must not join it:
# a kubelet newer than the apiserver, or a control-plane node of another
# minor, breaks the version skew policy. Minor changes are refused at plan
# time; this stops a node that slipped through (say, a node group in another
# stack), loudly, before it installs anything.
refuse_version_skew() {
  local recorded status attempt
  for attempt in 1 2 3 4 5; do
    status=0
    recorded=$(ssm_get "$SSM_KUBERNETES_VERSION") || status=$?
    ((status == 0 || status == 3)) && break
    sleep "$((RETRY_DELAY_SECONDS * attempt))"
  done
  ((status == 3)) && return 0 # no cluster yet
  ((status == 0)) || die "cannot read the cluster's version from SSM ($SSM_KUBERNETES_VERSION)"
  [[ $recorded =~ ^v?([0-9]+\.[0-9]+)\. ]] || die "the cluster's recorded version \"$recorded\" is not a Kubernetes version"
  [[ ${BASH_REMATCH[1]} == "$KUBERNETES_MINOR" ]] ||
    die "this node is configured for Kubernetes $KUBERNETES_MINOR, but the cluster runs $recorded; set kubernetesVersion to ${BASH_REMATCH[1]} (minor upgrades are not automated yet)"
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

# Everything but the Kubernetes packages. A node of another minor than the
# cluster stops first, before it installs anything.
prepare_host() {
  run_step version-skew refuse_version_skew
  run_step install-packages install_packages
  run_step set-hostname set_hostname
  run_step disable-swap disable_swap
  run_step kernel-settings load_kernel_settings
  run_step install-containerd install_containerd
  run_step containerd configure_containerd
}
