#!/usr/bin/env bash
# Takes an etcd snapshot and stores it in the cluster's backup bucket. A timer
# runs it on every control-plane node; only the node whose member leads the
# cluster takes the snapshot, so there is one per interval. The snapshot is
# checked with `snapshot status`, uploaded (never over another) under a name that sorts
# by time, and, the first time each day, kept as a daily snapshot too. Then it
# publishes the snapshot's age as a CloudWatch metric; an alarm fires when no
# snapshot succeeded for two intervals.
set -Eeuo pipefail
SCRIPT_NAME=etcd-backup
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=etcd.sh
. "$HERE/etcd.sh"

# put_snapshot FILE KEY: stores a snapshot, encrypted by the bucket's default (the cluster key). The bucket
# policy refuses writes that could replace an object, so it is a conditional write; PreconditionFailed means
# an earlier attempt whose answer was lost stored it already. One request carries at most 5 GiB, over twice
# etcd's default 2 GiB quota; a larger database fails here, and the stale-backup alarm fires.
put_snapshot() {
  local out
  if out=$(aws_cli s3api put-object "${OWNER[@]}" --bucket "$BUCKET" --key "$2" --body "$1" --if-none-match '*' 2>&1); then return 0; fi
  if grep -q PreconditionFailed <<<"$out"; then
    log "s3://$BUCKET/$2 exists already; keeping it"
    return 0
  fi
  log "upload of $2 failed: $out"
  return 1
}

upload() {
  retry 5 put_snapshot "$1" "$2"
}

publish_age() {
  retry 3 aws_cli cloudwatch put-metric-data --namespace "$METRIC_NAMESPACE" \
    --metric-data "MetricName=EtcdSnapshotAgeSeconds,Value=$1,Unit=Seconds,Dimensions=[{Name=ClusterName,Value=$CLUSTER_NAME}]"
}

use_backup_bucket() {
  local owner
  BUCKET=$(backup_bucket)
  owner=$(bucket_owner_args "$BUCKET") || die "cannot read this instance's account"
  OWNER=()
  [[ -z $owner ]] || mapfile -t OWNER <<<"$owner"
}

# store_snapshot REASON: a snapshot of this node's member, checked and kept as a daily one named for REASON
# (before-rollout), whichever member leads. Dies when it cannot.
store_snapshot() {
  local stamp file revision key
  use_backup_bucket
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  file="$ROOT$SNAPSHOT_DIR/kubeadm-aws-$1.db"
  mkdir -p "$(dirname "$file")" && rm -f "$file"
  etcdctl_here snapshot save "$file" >/dev/null || die "etcd snapshot failed"
  revision=$(etcd_snapshot_revision "$file")
  key="$BACKUP_PREFIX/daily/$stamp-rev$revision-$1.db"
  upload "$file" "$key" || die "cannot store the snapshot as s3://$BUCKET/$key"
  rm -f "$file"
  log "snapshot at revision $revision stored as s3://$BUCKET/$key"
}

main() {
  load_config
  if ! etcd_is_leader; then
    log "this node's etcd member is not the leader; the leader's node takes the snapshot"
    return 0
  fi
  local started stamp day file revision key daily
  use_backup_bucket
  started=$(date +%s)
  stamp=$(date -u -d "@$started" +%Y%m%dT%H%M%SZ)
  day=${stamp:0:8}
  file="$ROOT$SNAPSHOT_DIR/kubeadm-aws-snapshot.db"
  mkdir -p "$(dirname "$file")" && rm -f "$file"
  etcdctl_here snapshot save "$file" >/dev/null
  revision=$(etcd_snapshot_revision "$file")
  # Fixed-width UTC timestamps first, so keys sort by time.
  key="$BACKUP_PREFIX/frequent/$stamp-rev$revision.db"
  upload "$file" "$key"
  daily=$(aws_cli s3api list-objects-v2 "${OWNER[@]}" --bucket "$BUCKET" --prefix "$BACKUP_PREFIX/daily/$day" --max-items 1 | jq -r '.Contents | length')
  if [[ $daily == 0 ]]; then
    upload "$file" "$BACKUP_PREFIX/daily/$stamp-rev$revision.db"
  fi
  rm -f "$file"
  publish_age "$(($(date +%s) - started))"
  log "snapshot at revision $revision stored as s3://$BUCKET/$key"
}

# Sourced by tests for its steps; run by the backup timer otherwise.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
