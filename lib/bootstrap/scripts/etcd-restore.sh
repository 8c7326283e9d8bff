#!/usr/bin/env bash
# Restores etcd from a snapshot. Two commands:
#
#   etcd-restore.sh in-place s3://BUCKET/KEY
#     On a running cluster: run it on every control-plane node at once (through
#     SSM Run Command, see README.md). Each node stops its apiserver and etcd,
#     moves its data aside, restores the snapshot as one member of a new
#     cluster made of the running control-plane nodes, and starts them again.
#
#   etcd-restore.sh restore-data SNAPSHOT NAME PEER_URL INITIAL_CLUSTER TOKEN DATA_DIR
#     Only the data step: restores SNAPSHOT into the empty DATA_DIR.
set -Eeuo pipefail
SCRIPT_NAME=etcd-restore
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=etcd.sh
. "$HERE/etcd.sh"

MANIFESTS="$ROOT/etc/kubernetes/manifests"
STOPPED="$ROOT/etc/kubernetes/manifests-stopped"

# name=https://ip:2380 for every running control-plane instance, sorted: every node computes the same list.
initial_cluster() {
  aws_cli ec2 describe-instances --filters "Name=tag:$CLUSTER_TAG_KEY,Values=owned" \
    "Name=tag:$ROLE_TAG_KEY,Values=control-plane" "Name=instance-state-name,Values=running" |
    jq -r '[.Reservations[].Instances[] | "\(.PrivateDnsName)=https://\(.PrivateIpAddress):2380"] | sort | join(",")'
}

stop_control_plane() {
  mkdir -p "$STOPPED"
  for pod in kube-apiserver etcd; do
    [[ -f "$MANIFESTS/$pod.yaml" ]] && mv "$MANIFESTS/$pod.yaml" "$STOPPED/$pod.yaml"
  done
  local deadline=$((SECONDS + 120))
  while [[ -n $(etcd_container) ]]; do
    ((SECONDS < deadline)) || die "etcd did not stop within 120s"
    sleep 2
  done
}

start_control_plane() {
  for pod in etcd kube-apiserver; do
    [[ -f "$STOPPED/$pod.yaml" ]] && mv "$STOPPED/$pod.yaml" "$MANIFESTS/$pod.yaml"
  done
  return 0
}

in_place() {
  local source=$1 name ip members snapshot token
  [[ $source == s3://* ]] || die "give the snapshot as s3://bucket/key"
  load_config
  name=$(retry 10 imds meta-data/local-hostname)
  ip=$(retry 10 imds meta-data/local-ipv4)
  members=$(retry 5 initial_cluster)
  [[ $members == *"$name=https://$ip:2380"* ]] || die "this node ($name) is not among the running control-plane instances: $members"
  snapshot="$ROOT/var/lib/etcd-restore/$(basename "$source")"
  mkdir -p "$(dirname "$snapshot")"
  retry 5 s3_get "$source" "$snapshot"
  # Every node derives the same new cluster token from the snapshot's name.
  token="restore-$(basename "$source" .db)"
  log "restoring $source as member $name of $members"
  stop_control_plane
  mv "$ROOT/var/lib/etcd" "$ROOT/var/lib/etcd.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
  if ! etcd_restore_data "$snapshot" "$name" "https://$ip:2380" "$members" "$token" "$ROOT/var/lib/etcd"; then
    start_control_plane
    die "restore failed; the previous data is in $ROOT/var/lib/etcd.before-restore-*"
  fi
  start_control_plane
  log "restored; etcd and the apiserver are starting again"
}

case ${1:-} in
  in-place) in_place "${2:?usage: etcd-restore.sh in-place s3://bucket/key}" ;;
  restore-data)
    shift
    (($# == 6)) || die "usage: etcd-restore.sh restore-data SNAPSHOT NAME PEER_URL INITIAL_CLUSTER TOKEN DATA_DIR"
    etcd_restore_data "$@"
    ;;
  *) die "usage: etcd-restore.sh in-place s3://bucket/key | restore-data SNAPSHOT NAME PEER_URL INITIAL_CLUSTER TOKEN DATA_DIR" ;;
esac
