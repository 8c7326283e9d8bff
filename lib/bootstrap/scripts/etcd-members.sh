#!/usr/bin/env bash
# etcd membership care for control-plane nodes. Sourced after lib.sh.
#
# A replacement node removes the members of dead control-plane nodes before it
# joins: a member whose instance is gone still counts towards quorum, and a
# member that was added but never started blocks every later join.

# etcd_ctl ARGS...: etcdctl against the cluster. On a joining node it runs
# inside a healthy etcd pod of another control-plane node; ETCD_EXEC=local runs
# the host's etcdctl against ETCD_ENDPOINTS instead (tests).
etcd_ctl() {
  if [[ ${ETCD_EXEC:-} == local ]]; then
    # shellcheck disable=SC2086 # ETCD_TLS_ARGS holds several flags
    ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINTS" ${ETCD_TLS_ARGS:-} "$@"
    return
  fi
  local pod
  pod=$(kubectl --kubeconfig "$ETCD_KUBECONFIG" -n kube-system get pods -l component=etcd \
    --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}')
  [[ -n $pod ]] || die "no running etcd pod to reach the cluster through"
  kubectl --kubeconfig "$ETCD_KUBECONFIG" -n kube-system exec "$pod" -- etcdctl \
    --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt \
    --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key "$@"
}

# Private DNS names and IPs of this cluster's running control-plane instances, one per line.
etcd_live_hosts() {
  aws_cli ec2 describe-instances --filters \
    "Name=tag:$CLUSTER_TAG_KEY,Values=owned" "Name=tag:$ROLE_TAG_KEY,Values=control-plane" \
    "Name=instance-state-name,Values=pending,running" |
    jq -r '.Reservations[].Instances[] | .PrivateDnsName, .PrivateIpAddress'
}

# etcd_remove_dead_members KUBECONFIG: removes members that belong to no live
# control-plane instance: started members by name (the node name is the
# instance's private DNS name), unstarted ones, which have no name yet, by
# their peer IP. It never removes a member that still answers, and refuses
# when the live members lack quorum: then the cluster needs a restore.
etcd_remove_dead_members() {
  ETCD_KUBECONFIG=$1
  local live members id status name peer client host dead=() alive=0 total=0
  live=$(retry 5 etcd_live_hosts)
  members=$(retry 5 etcd_ctl member list -w simple) || die "cannot list etcd members; the cluster may have lost quorum"
  while IFS=', ' read -r id status name peer client _; do
    [[ -n $id ]] || continue
    total=$((total + 1))
    host=${peer#*://} && host=${host%:*}
    if [[ $status == started ]] && grep -qxF "$name" <<<"$live"; then
      alive=$((alive + 1))
    elif [[ $status == unstarted ]] && grep -qxF "$host" <<<"$live"; then
      alive=$((alive + 1))
    elif [[ $status == started ]] && etcd_ctl --endpoints="$client" endpoint health >/dev/null 2>&1; then
      log "etcd member $id ($name) has no running instance but still answers; keeping it"
      alive=$((alive + 1))
    else
      dead+=("$id")
      log "etcd member $id (${name:-unstarted}, $peer) belongs to no running control-plane instance"
    fi
  done <<<"$members"
  ((${#dead[@]} > 0)) || return 0
  if ((alive < total / 2 + 1)); then
    die "only $alive of $total etcd members are alive, below quorum ($((total / 2 + 1))); not removing any: restore from a backup instead"
  fi
  for id in "${dead[@]}"; do
    log "removing dead etcd member $id"
    retry 3 etcd_ctl member remove "$id"
  done
}
