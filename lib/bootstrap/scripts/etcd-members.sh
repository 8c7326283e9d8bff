#!/usr/bin/env bash
# etcd membership care for control-plane nodes. Sourced after lib.sh and etcd.sh.
#
# ETCD_EXEC=local with ETCD_ENDPOINTS (and ETCD_TLS_ARGS) points it at a test
# etcd with the host's etcdctl instead.
#
# A replacement node removes the members of dead control-plane nodes before it
# joins: a member whose instance is gone still counts towards quorum, and a
# member that was added but never started blocks every later join.
#
# It talks to the live members directly, with a client certificate it signs
# itself with the etcd CA from the secret store, valid for a day. So it needs
# no kubeconfig (the one stored at init expires after a year) and no running
# etcd pod to exec into (which may be the dead node's).

# Under the etcd PKI folder, which the etcd container mounts and so does
# etcd_tool's run from the image: etcdctl reads the credentials wherever it runs.
ETCD_MEMBER_CARE_DIR=$ETCD_PKI/kubeadm-aws-member-care

# Private DNS names and IPs of this cluster's running control-plane instances, one per line.
etcd_live_hosts() {
  aws_cli ec2 describe-instances --filters \
    "Name=tag:$CLUSTER_TAG_KEY,Values=owned" "Name=tag:$ROLE_TAG_KEY,Values=control-plane" \
    "Name=instance-state-name,Values=pending,running" |
    jq -r '.Reservations[].Instances[] | .PrivateDnsName, .PrivateIpAddress'
}

# Writes ca.crt, client.crt and client.key under ETCD_MEMBER_CARE_DIR: a
# client certificate signed by the etcd CA, whose key never leaves this step.
etcd_client_credentials() {
  local dir="$ROOT$ETCD_MEMBER_CARE_DIR"
  mkdir -p "$dir" && chmod 0700 "$dir"
  secret_get "$SECRET_PKI" | write_private "$dir/pki.json"
  jq -j '.["etcd/ca.crt"]' "$dir/pki.json" | write_private "$dir/ca.crt"
  jq -j '.["etcd/ca.key"]' "$dir/pki.json" | write_private "$dir/ca.key"
  rm -f "$dir/pki.json"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/client.key" \
    -subj "/CN=kubeadm-aws-etcd-member-care" -out "$dir/client.csr" 2>/dev/null
  openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 1 \
    -extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n') \
    -out "$dir/client.crt" 2>/dev/null
  rm -f "$dir/ca.key" "$dir/ca.srl" "$dir/client.csr"
}

etcd_forget_client_credentials() {
  rm -rf "$ROOT$ETCD_MEMBER_CARE_DIR"
}

# etcd_ctl ARGS...: etcdctl against ETCD_MEMBER_ENDPOINTS with the credentials
# above, run from the etcd image (etcd_tool; ETCD_EXEC=local runs the host's).
etcd_ctl() {
  local dir=$ETCD_MEMBER_CARE_DIR tls=()
  # The host's etcdctl sees the node's files under the test root; a container sees the node's paths.
  [[ ${ETCD_EXEC:-container} == local ]] && dir=$ROOT$dir
  [[ -f $ROOT$ETCD_MEMBER_CARE_DIR/client.crt ]] && tls=(--cacert="$dir/ca.crt" --cert="$dir/client.crt" --key="$dir/client.key")
  # shellcheck disable=SC2086 # ETCD_TLS_ARGS holds several flags
  etcd_tool etcdctl --endpoints="$ETCD_MEMBER_ENDPOINTS" "${tls[@]}" ${ETCD_TLS_ARGS:-} \
    --dial-timeout="${ETCD_DIAL_TIMEOUT:-5s}" --command-timeout="${ETCD_COMMAND_TIMEOUT:-15s}" "$@"
}

# The etcd image kubeadm deploys, for etcd_tool on a node with no etcd of its own yet.
etcd_image_of_this_release() {
  kubeadm config images list --kubernetes-version "$(kubeadm version -o short)" | grep '/etcd:'
}

# etcd_connect LIVE_HOSTS: points etcd_ctl at the members of the running
# control-plane instances (ETCD_MEMBER_ENDPOINTS), with fresh client
# credentials; a test etcd when ETCD_ENDPOINTS is set (with ETCD_EXEC=local
# and, if it needs them, ETCD_TLS_ARGS).
etcd_connect() {
  local live=$1 ip
  if [[ -n ${ETCD_ENDPOINTS:-} ]]; then
    ETCD_MEMBER_ENDPOINTS=$ETCD_ENDPOINTS
    return 0
  fi
  ETCD_MEMBER_ENDPOINTS=""
  for ip in $(grep -E '^[0-9.]+$' <<<"$live" || true); do ETCD_MEMBER_ENDPOINTS+="${ETCD_MEMBER_ENDPOINTS:+,}https://$ip:2379"; done
  [[ -n $ETCD_MEMBER_ENDPOINTS ]] || die "no running control-plane instance to reach etcd through"
  [[ -n ${ETCD_IMAGE:-} || ${ETCD_EXEC:-} == local ]] || { ETCD_IMAGE=$(etcd_image_of_this_release) && export ETCD_IMAGE; }
  etcd_client_credentials
}

# Dies, forgetting the credentials, when no quorum answers; callers exit with it (`|| exit`): it runs in a subshell.
etcd_member_list() {
  retry 5 etcd_ctl member list -w simple || { etcd_forget_client_credentials; die "cannot list etcd members; the cluster may have lost quorum"; }
}

# etcd_remove_dead_members: removes members that belong to no live
# control-plane instance: started members by name (the node name is the
# instance's private DNS name), unstarted ones, which have no name yet, by
# their peer IP. It never removes a member that still answers, and refuses
# when the live members lack quorum: then the cluster needs a restore.
etcd_remove_dead_members() {
  local live members id status name peer client host dead=() alive=0 total=0
  live=$(retry 5 etcd_live_hosts)
  etcd_connect "$live"
  members=$(etcd_member_list) || exit
  # fd 3: etcd_ctl runs commands that could read stdin.
  while IFS=', ' read -r -u 3 id status name peer client _; do
    [[ -n $id ]] || continue
    total=$((total + 1))
    host=${peer#*://} && host=${host%:*}
    if [[ $status == started ]] && grep -qxF "$name" <<<"$live"; then
      alive=$((alive + 1))
    elif [[ $status == unstarted ]] && grep -qxF "$host" <<<"$live"; then
      alive=$((alive + 1))
    elif [[ $status == started ]] && ETCD_MEMBER_ENDPOINTS=$client etcd_ctl endpoint health >/dev/null 2>&1; then
      log "etcd member $id ($name) has no running instance but still answers; keeping it"
      alive=$((alive + 1))
    else
      dead+=("$id")
      log "etcd member $id (${name:-unstarted}, $peer) belongs to no running control-plane instance"
    fi
  done 3<<<"$members"
  if ((${#dead[@]} > 0)) && ((alive < total / 2 + 1)); then
    etcd_forget_client_credentials
    die "only $alive of $total etcd members are alive, below quorum ($((total / 2 + 1))); not removing any: restore from a backup instead"
  fi
  for id in "${dead[@]}"; do
    log "removing dead etcd member $id"
    retry 3 etcd_ctl member remove "$id"
  done
  etcd_forget_client_credentials
}

# etcd_remove_member_at IP [WHY]: removes the member whose peer URL is on IP,
# this node's own: by default one left behind by a join that a reboot
# interrupted. kubeadm reset deletes that member's data but cannot remove it
# before the node's Node is registered, and `kubeadm join` then waits for it to
# be healthy, which it can never be again. It counts towards quorum like any
# member, so it goes first. A node replaced in a minor upgrade removes its own
# too, before it terminates.
etcd_remove_member_at() {
  local peer="https://$1:2380" why=${2:-"this node's own, left by an interrupted join"} members id
  etcd_connect "$(retry 5 etcd_live_hosts)"
  members=$(etcd_member_list) || exit
  id=$(awk -F', ' -v peer="$peer" '$4 == peer { print $1 }' <<<"$members")
  if [[ -n $id ]]; then
    log "removing etcd member $id ($peer): $why"
    retry 3 etcd_ctl member remove "$id"
  fi
  etcd_forget_client_credentials
}
