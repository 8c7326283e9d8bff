#!/usr/bin/env bash
# Builds, for one Kubernetes release, a local image for every image its kubeadm
# deploys (`kubeadm config images list`), under that exact name and tag, so
# containerd runs kubeadm's static pods and add-ons with nothing pulled:
#  - kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy and
#    etcd (with etcdctl and etcdutl) from the binaries build-kubernetes.sh made;
#  - CoreDNS from its Go module, at the tag kubeadm lists;
#  - pause from pause/main.go, our own.
# Each image is a plain OCI image archive of one layer, as `ctr images import`
# reads it. Also builds what a lab node needs beside them: the CNI plugins that
# stand in for the pod network, and crictl (cri-tools), which kubeadm's packages
# bring to an EC2 node.
#
#   build-images.sh v1.35.4        prints the images directory when done
#
# Needs build-kubernetes.sh's output for the version. A second run returns at
# once, unless this script or pause/main.go changed since the images were made
# (CoreDNS, the CNI plugins and crictl stay cached).
set -euo pipefail

version=${1:?usage: build-images.sh v<major>.<minor>.<patch>}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KUBEADM_AWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdktf-kubeadm-aws}
bin=$cache/kubernetes/$version/bin
out=$cache/images/$version
# The CNI plugins' release, from the Go module proxy.
CNI_PLUGINS_VERSION=v1.10.0
CNI_PLUGINS=(bridge host-local loopback portmap)
CRI_TOOLS_VERSION=v1.34.0
# What the images are made from here; .complete holds it.
stamp=$(cat "$here/build-images.sh" "$here/pause/main.go" | sha256sum | cut -d' ' -f1)
if [[ -f $out/.complete && $(cat "$out/.complete") == "$stamp" ]]; then echo "$out"; exit 0; fi
[[ -f $cache/kubernetes/$version/.complete ]] || { echo "build-images: Kubernetes $version is not built; run build-kubernetes.sh $version first" >&2; exit 1; }

log() { echo "build-images $version: $*" >&2; }
quiet() {
  local output
  output=$("$@" 2>&1) || { echo "$output" >&2; log "failed: $*"; return 1; }
}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
arch=$(go env GOARCH)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS

# go_build PACKAGE VERSION OUTPUT: builds a command of a published module, in a scratch module of its own.
go_build() {
  local package=$1 version=$2 output=$3 dir
  dir=$(mktemp -d -p "$work")
  (cd "$dir" && quiet go mod init kubeadm-aws.local/build && quiet go get "$package@$version" &&
    go build -trimpath -ldflags "-s -w" -o "$output" "$package")
}

# oci_archive NAME ROOTFS ENTRYPOINT_JSON ARCHIVE: one layer holding ROOTFS, deterministic.
oci_archive() {
  local name=$1 rootfs=$2 entrypoint=$3 archive=$4 dir layer config manifest
  dir=$(mktemp -d -p "$work")
  mkdir -p "$dir/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf "$dir/layer.tar" .
  layer=$(sha256sum "$dir/layer.tar" | cut -d' ' -f1)
  mv "$dir/layer.tar" "$dir/blobs/sha256/$layer"
  jq -cn --arg arch "$arch" --arg diff "sha256:$layer" --argjson entrypoint "$entrypoint" \
    '{architecture: $arch, os: "linux", config: {Env: ["PATH=/usr/local/bin:/usr/bin:/bin"], Entrypoint: $entrypoint}, rootfs: {type: "layers", diff_ids: [$diff]}}' >"$dir/config"
  config=$(sha256sum "$dir/config" | cut -d' ' -f1)
  mv "$dir/config" "$dir/blobs/sha256/$config"
  jq -cn --arg config "sha256:$config" --argjson configSize "$(stat -c %s "$dir/blobs/sha256/$config")" \
    --arg layer "sha256:$layer" --argjson layerSize "$(stat -c %s "$dir/blobs/sha256/$layer")" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $config, size: $configSize},
      layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $layer, size: $layerSize}]}' >"$dir/manifest"
  manifest=$(sha256sum "$dir/manifest" | cut -d' ' -f1)
  jq -cn --arg name "$name" --arg digest "sha256:$manifest" --argjson size "$(stat -c %s "$dir/manifest")" \
    '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $digest, size: $size,
      annotations: {"io.containerd.image.name": $name, "org.opencontainers.image.ref.name": $name}}]}' >"$dir/index.json"
  mv "$dir/manifest" "$dir/blobs/sha256/$manifest"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf "$archive" oci-layout index.json blobs
}

rm -rf "$out.partial" && mkdir -p "$out.partial"
mapfile -t images < <("$bin/kubeadm" config images list --kubernetes-version "$version")
((${#images[@]} >= 6)) || { log "kubeadm listed ${#images[@]} images: ${images[*]}"; exit 1; }
for image in "${images[@]}"; do
  rootfs=$(mktemp -d -p "$work")
  file=${image##*/} && file=${file%%:*}
  case $image in
    */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:* | */kube-proxy:*)
      install -D -m 0755 "$bin/$file" "$rootfs/usr/local/bin/$file"
      entrypoint='[]' ;;
    */etcd:*)
      for tool in etcd etcdctl etcdutl; do install -D -m 0755 "$bin/$tool" "$rootfs/usr/local/bin/$tool"; done
      entrypoint='[]' ;;
    */coredns:*)
      tag=${image##*:}
      coredns=$cache/coredns/$tag/coredns
      if [[ ! -x $coredns ]]; then
        t=$SECONDS
        go_build github.com/coredns/coredns "$tag" "$coredns.partial"
        mv "$coredns.partial" "$coredns"
        log "coredns $tag built in $((SECONDS - t)) s"
      fi
      install -D -m 0755 "$coredns" "$rootfs/coredns"
      entrypoint='["/coredns"]' ;;
    */pause:*)
      (cd "$here/pause" && go build -trimpath -ldflags "-s -w" -o "$rootfs/pause" main.go)
      entrypoint='["/pause"]' ;;
    *) log "no recipe for image $image"; exit 1 ;;
  esac
  oci_archive "$image" "$rootfs" "$entrypoint" "$out.partial/$file.tar"
  echo "$image $file.tar" >>"$out.partial/images"
done

cni=$cache/cni-plugins/$CNI_PLUGINS_VERSION
if [[ ! -f $cni/.complete ]]; then
  t=$SECONDS
  mkdir -p "$cni/bin"
  for plugin in "${CNI_PLUGINS[@]}"; do
    package=github.com/containernetworking/plugins/plugins/main/$plugin
    [[ $plugin == host-local ]] && package=github.com/containernetworking/plugins/plugins/ipam/host-local
    [[ $plugin == portmap ]] && package=github.com/containernetworking/plugins/plugins/meta/portmap
    go_build "$package" "$CNI_PLUGINS_VERSION" "$cni/bin/$plugin"
  done
  touch "$cni/.complete"
  log "CNI plugins $CNI_PLUGINS_VERSION built in $((SECONDS - t)) s"
fi
ln -sfn "$cni/bin" "$out.partial/cni-bin"

crictl=$cache/cri-tools/$CRI_TOOLS_VERSION/crictl
if [[ ! -x $crictl ]]; then
  go_build sigs.k8s.io/cri-tools/cmd/crictl "$CRI_TOOLS_VERSION" "$crictl.partial"
  mv "$crictl.partial" "$crictl"
fi
mkdir -p "$out.partial/node-bin" && ln -sfn "$crictl" "$out.partial/node-bin/crictl"

rm -rf "$out" && mv "$out.partial" "$out"
echo "$stamp" >"$out/.complete"
log "done in $((SECONDS - start)) s, $(du -shL "$out" | cut -f1) in $out"
echo "$out"
