#!/usr/bin/env bash
# The local etcd member of a control-plane node, for backups and restores.
# Sourced after lib.sh.
#
# The tools run inside this node's etcd container, so their version always
# matches the running etcd; with the container stopped (a restore), they run
# from the same image through containerd. ETCD_EXEC=local runs the host's
# tools instead (tests, with ETCD_ENDPOINTS and optional ETCD_TLS_ARGS).
# etcd 3.5 moved the offline snapshot commands to etcdutl, and 3.6 removed
# them from etcdctl: etcd_offline_tool picks whichever is present.

ETCD_PKI=/etc/kubernetes/pki/etcd

etcd_container() {
  crictl ps --name '^etcd$' --state running -q | head -n 1
}

# The etcd image: ETCD_IMAGE when set (before kubeadm wrote a manifest), else the static pod's.
etcd_image() {
  [[ -n ${ETCD_IMAGE:-} ]] && echo "$ETCD_IMAGE" && return 0
  sed -n 's/^ *image: *//p' "$ROOT/etc/kubernetes/manifests-stopped/etcd.yaml" "$ROOT/etc/kubernetes/manifests/etcd.yaml" 2>/dev/null | head -n 1
}

# etcd_tool TOOL ARGS...: runs etcdctl or etcdutl where this node's etcd lives.
etcd_tool() {
  local tool=$1 container
  shift
  if [[ ${ETCD_EXEC:-container} == local ]]; then
    ETCDCTL_API=3 "$tool" "$@"
    return
  fi
  container=$(etcd_container)
  # </dev/null: both forward stdin into the container, which would drain a caller's `while read` loop.
  if [[ -n $container ]]; then
    crictl exec "$container" "$tool" "$@" </dev/null
  else
    # etcd is stopped: run the tool from its image, with the host's etcd paths.
    local image
    image=$(etcd_image)
    [[ -n $image ]] || die "no etcd container and no etcd manifest to take the image from"
    # Pulled only when missing: a registry out of reach must not stop a node that has the image.
    [[ $(ctr -n k8s.io images ls -q "name==$image") == "$image" ]] || ctr -n k8s.io images pull "$image" >/dev/null
    # A joining node has no etcd PKI yet, and runc refuses a bind mount whose source is missing.
    mkdir -p "$ROOT$ETCD_PKI"
    ctr -n k8s.io run --rm --net-host \
      --mount "type=bind,src=/var/lib,dst=/var/lib,options=rbind:rw" \
      --mount "type=bind,src=$ETCD_PKI,dst=$ETCD_PKI,options=rbind:ro" \
      "$image" "kubeadm-aws-etcd-$$" "$tool" "$@" </dev/null
  fi
}

# etcdctl against this node's member.
etcdctl_here() {
  if [[ ${ETCD_EXEC:-container} == local ]]; then
    # shellcheck disable=SC2086 # ETCD_TLS_ARGS holds several flags
    etcd_tool etcdctl --endpoints="$ETCD_ENDPOINTS" ${ETCD_TLS_ARGS:-} "$@"
  else
    etcd_tool etcdctl --endpoints=https://127.0.0.1:2379 --cacert="$ETCD_PKI/ca.crt" \
      --cert="$ETCD_PKI/healthcheck-client.crt" --key="$ETCD_PKI/healthcheck-client.key" "$@"
  fi
}

etcd_offline_tool() {
  if etcd_tool etcdutl version >/dev/null 2>&1; then echo etcdutl; else echo etcdctl; fi
}

# Succeeds when this node's member is the cluster's leader. The "fields" output
# keeps the 64-bit ids exact (JSON numbers would lose precision in jq 1.6).
etcd_is_leader() {
  local fields member leader
  fields=$(etcdctl_here endpoint status -w fields) || return 1
  member=$(sed -n 's/^"MemberID" : //p' <<<"$fields")
  leader=$(sed -n 's/^"Leader" : //p' <<<"$fields")
  [[ -n $member && $member == "$leader" ]]
}

# Names of the started members, one per line (a member's name is its node's, the instance's private DNS name).
etcd_member_names() {
  etcdctl_here member list -w simple | awk -F', ' '$2 == "started" { print $3 }'
}

# Every member answers and one leads: a restart of this node's member, or its loss, then keeps quorum.
etcd_all_healthy() {
  local health status
  health=$(etcdctl_here endpoint health --cluster -w json 2>/dev/null) || return 1
  jq -e 'length > 0 and all(.health)' <<<"$health" >/dev/null || return 1
  status=$(etcdctl_here endpoint status --cluster -w json 2>/dev/null) || return 1
  jq -e '[.[].Status.leader] | unique | length == 1 and .[0] != 0' <<<"$status" >/dev/null
}

# etcd_snapshot_revision FILE: checks a snapshot file and prints its revision.
etcd_snapshot_revision() {
  local status revision
  status=$(etcd_tool "$(etcd_offline_tool)" snapshot status "$1" -w json) || die "snapshot $1 is unreadable"
  revision=$(jq -r '.revision' <<<"$status")
  if ! [[ $revision =~ ^[1-9][0-9]*$ ]]; then
    die "snapshot $1 has no revision (status: $status)"
  fi
  echo "$revision"
}

# etcd_restore_data SNAPSHOT NAME PEER_URL INITIAL_CLUSTER TOKEN DATA_DIR:
# restores a snapshot into an empty data dir for one member of a new cluster.
etcd_restore_data() {
  local snapshot=$1 name=$2 peer_url=$3 initial_cluster=$4 token=$5 data_dir=$6
  [[ ! -e $data_dir ]] || die "data dir $data_dir exists; move it aside first"
  etcd_snapshot_revision "$snapshot" >/dev/null
  etcd_tool "$(etcd_offline_tool)" snapshot restore "$snapshot" --name "$name" --initial-cluster "$initial_cluster" \
    --initial-cluster-token "$token" --initial-advertise-peer-urls "$peer_url" --data-dir "$data_dir"
}
