#!/usr/bin/env bash
# Builds the real Kubernetes programs of one release from Go modules, and the
# etcd that kubeadm of that release deploys, into a cache keyed by version.
#
#   build-kubernetes.sh v1.35.4        prints the cache directory when done
#
# A second run with the same version returns at once. The recipe:
#  - k8s.io/kubernetes's go.mod replaces its staging modules (k8s.io/api, ...)
#    with ./staging paths that its module zip lacks, so a scratch module
#    replaces each one with the published k8s.io/X v0.<minor>.<patch>;
#  - the version is stamped with -ldflags, or kubeadm reports one it cannot parse;
#  - etcd is built in a scratch module of its own, at kubeadm's
#    DefaultEtcdVersion, so its dependencies never mix with Kubernetes'.
set -euo pipefail

version=${1:?usage: build-kubernetes.sh v<major>.<minor>.<patch>}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "build-kubernetes: $version is not v1.<minor>.<patch>" >&2; exit 2; }
minor=${BASH_REMATCH[1]} patch=${BASH_REMATCH[2]}
cache=${KUBEADM_AWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdktf-kubeadm-aws}
out=$cache/kubernetes/$version
if [[ -f $out/.complete ]]; then echo "$out"; exit 0; fi

command -v go >/dev/null || { echo "build-kubernetes: Go is not installed; install Go >= 1.25 (https://go.dev/doc/install)" >&2; exit 1; }
log() { echo "build-kubernetes $version: $*" >&2; }
# quiet COMMAND...: runs a go command, showing its output only when it fails.
quiet() {
  local output
  output=$("$@" 2>&1) || { echo "$output" >&2; log "failed: $*"; return 1; }
}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/bin"

# --- Kubernetes ---------------------------------------------------------------
start=$SECONDS
mkdir "$work/k8s" && cd "$work/k8s"
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
[[ -f $gomod ]] || { log "no go.mod for k8s.io/kubernetes@$version from the module proxy"; exit 1; }
{
  echo "module kubeadm-aws.local/build"
  echo "go $(sed -n 's/^go //p' "$gomod")"
  echo "require k8s.io/kubernetes $version"
  sed -n "s#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*\$#replace \1 => \1 v0.$minor.$patch#p" "$gomod"
} >go.mod
grep -q '^replace k8s.io/api ' go.mod || { log "found no staging replacements in $gomod"; exit 1; }
commands=(kubeadm kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl)
{
  printf '//go:build tools\n\npackage tools\n\nimport (\n'
  for c in "${commands[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$c"; done
  printf ')\n'
} >tools.go
log "downloading modules"
quiet go get "k8s.io/kubernetes@$version"
# tools.go imports every command, so tidy records what they need in go.sum.
quiet go mod tidy
log "modules ready in $((SECONDS - start)) s"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$version"
for c in "${commands[@]}"; do
  t=$SECONDS
  go build -trimpath -ldflags "$ldflags" -o "$out/bin/$c" "k8s.io/kubernetes/cmd/$c"
  log "$c built in $((SECONDS - t)) s"
done

# --- etcd, at the version kubeadm of this release deploys ---------------------
kdir=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
etcd=$(sed -n 's/^\s*DefaultEtcdVersion = "\([0-9.]*\)-[0-9]*"$/\1/p' "$kdir/cmd/kubeadm/app/constants/constants.go")
[[ -n $etcd ]] || { log "cannot read DefaultEtcdVersion from kubeadm's constants"; exit 1; }
mkdir "$work/etcd" && cd "$work/etcd"
quiet go mod init kubeadm-aws.local/etcd
for m in server etcdctl etcdutl; do quiet go get "go.etcd.io/etcd/$m/v3@v$etcd"; done
for m in server etcdctl etcdutl; do
  t=$SECONDS
  name=$m; [[ $m == server ]] && name=etcd
  go build -trimpath -ldflags "-s -w" -o "$out/bin/$name" "go.etcd.io/etcd/$m/v3"
  log "$name v$etcd built in $((SECONDS - t)) s"
done

echo "$etcd" >"$out/etcd-version"
"$out/bin/kubeadm" version -o short | grep -qx "$version" || { log "kubeadm does not report $version"; exit 1; }
touch "$out/.complete"
log "done in $((SECONDS - start)) s, $(du -sh "$out" | cut -f1) in $out"
echo "$out"
