#!/usr/bin/env bash
# Provisions everything the test suite runs, idempotently; `npm test` calls it
# first (pretest) and so does CI. A second run only checks, in a second or two.
#
#  1. Debian packages the tests spawn (as root, with apt), when missing.
#  2. terraform and the hashicorp/aws provider mirror: they come with the
#     machine image and cannot be fetched here, so they are only checked.
#  3. Real Kubernetes and etcd, built from Go modules for every supported
#     minor, into a version-keyed cache (build-kubernetes.sh), and local
#     images of everything kubeadm deploys (build-images.sh).
#  4. A Python virtual environment with checkov and moto (python-tools.sh),
#     and the jq the nodes run, built from source (build-jq.sh).
#  5. The kernel's inotify limit per user, raised (never lowered) for the
#     kubelets, containerds and apiservers of many lab nodes at once.
#
# Where provisioning cannot work, it stops at once with one line that says
# what is missing and how to get it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
started=$SECONDS
say() { echo "provision: $*" >&2; }
fail() { echo "provision: $*" >&2; exit 1; }

# The real-binary tests run kubeadm, etcd and kubelets in network and mount namespaces.
((EUID == 0)) || fail "the tests run Kubernetes in Linux namespaces and need root: run sudo npm test"

# --- 1. Debian packages -------------------------------------------------------
# command it provides -> package, and why the tests need it.
declare -A PACKAGES=(
  [shellcheck]=shellcheck       # lint of the node scripts
  [cloud-init]=cloud-init       # cloud-init schema on rendered user data
  [jq]=jq                       # node scripts and sandbox fakes
  [envsubst]=gettext-base       # node scripts fill kubeadm configs
  [openssl]=openssl             # sandbox fakes make real CA certificates
  [gpg]=gpg                     # sandboxes make a real signing key; nodes check its fingerprint
  [flock]=util-linux            # sandbox fakes serialize SSM versions
  [unshare]=util-linux          # real-binary suite: private namespaces
  [etcd]=etcd-server            # etcd backup, restore and member tests
  [etcdctl]=etcd-client
  [containerd]=containerd       # the CRI of the real kubelets
  [runc]=runc
  [ip]=iproute2                 # network namespaces, veth pairs and a bridge
  [curl]=curl                   # TLS checks against the real apiserver
  [systemd-analyze]=systemd     # verify of the rendered systemd units
  [haproxy]=haproxy             # offline cluster: the API load balancer's stand-in
  [dnsmasq]=dnsmasq-base        # offline cluster: the VPC resolver's stand-in (the private zone's endpoint name)
  [gcc]=gcc                     # build of the nodes' jq (build-jq.sh)
  [make]=make
  [autoreconf]=autoconf
  [automake]=automake
  [libtoolize]=libtool
)
missing=()
for command in "${!PACKAGES[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${PACKAGES[$command]}")
done
# The fake kubectl reads kustomizations with Debian's python3 and its yaml module.
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
# The nodes' jq uses Oniguruma for its regular expressions: headers to build it, the library to run it.
[[ -f /usr/include/oniguruma.h ]] || missing+=(libonig-dev)
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  command -v apt-get >/dev/null || fail "Debian packages missing: ${missing[*]}, and there is no apt-get; this suite needs Debian 12 or Ubuntu 24.04"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Install services without starting them (etcd-server and containerd would start daemons).
  policy=/usr/sbin/policy-rc.d
  [[ -e $policy ]] || { printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && trap 'rm -f "$policy"' EXIT; }
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f "$policy" && trap - EXIT
fi

# --- 2. terraform and the provider mirror ------------------------------------
command -v terraform >/dev/null || fail "terraform is not on PATH; the plan tests need Terraform >= 1.11 (https://developer.hashicorp.com/terraform/install)"
# The places lib/plan/offline-plan.ts looks (findProviderMirror).
mirror=""
for dir in "${TF_PROVIDER_MIRROR:-}" /opt/tf-plugins "$HOME/.terraform.d/plugins" "$HOME/.local/share/terraform/plugins" \
  /usr/local/share/terraform/plugins /usr/share/terraform/plugins; do
  [[ -n $dir && -d $dir/registry.terraform.io/hashicorp/aws ]] && mirror=$dir && break
done
[[ -n $mirror ]] || fail "no filesystem mirror of the hashicorp/aws provider found; set TF_PROVIDER_MIRROR to one (see README, Development)"

# --- 3. Kubernetes and etcd from Go modules ----------------------------------
# Go is needed only for a version the cache lacks.
cache=${KUBEADM_AWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdktf-kubeadm-aws}
for version in $("$here/kubernetes-versions.sh"); do
  if [[ ! -f $cache/kubernetes/$version/.complete ]]; then
    command -v go >/dev/null || fail "Go is not installed; the real-binary suite builds Kubernetes $version from Go modules: install Go >= 1.25 (https://go.dev/doc/install)"
    "$here/build-kubernetes.sh" "$version" >/dev/null
  fi
  # The images kubeadm of that release deploys, built from those binaries and Go modules; at once when they are current.
  "$here/build-images.sh" "$version" >/dev/null
done

# --- 4. checkov and moto, and the nodes' jq ----------------------------------
"$here/python-tools.sh" >/dev/null
"$here/build-jq.sh" >/dev/null

# --- 5. inotify instances ------------------------------------------------------
# Every kubelet, containerd (its CNI config watcher), apiserver and controller
# manager holds several, all as root: the offline cluster beside the real-binary
# suite needs about 150, and the default is 128. Past it, containerd starts
# without its CRI plugin and kubeadm fails "validate CRI v1 runtime API ... Unimplemented".
INOTIFY_INSTANCES=1024
if (($(cat /proc/sys/fs/inotify/max_user_instances) < INOTIFY_INSTANCES)); then
  say "raising fs.inotify.max_user_instances to $INOTIFY_INSTANCES (kind's nodes need the same)"
  echo "$INOTIFY_INSTANCES" >/proc/sys/fs/inotify/max_user_instances || fail "cannot raise fs.inotify.max_user_instances; run: sysctl -w fs.inotify.max_user_instances=$INOTIFY_INSTANCES"
fi

((SECONDS - started < 5)) || say "ready in $((SECONDS - started)) s"
