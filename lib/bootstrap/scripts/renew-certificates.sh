#!/usr/bin/env bash
# Renews this control-plane node's kubeadm-managed certificates before they
# expire: the apiserver's, etcd's (server, peer, health check, apiserver
# client), the front proxy client's and the kubeconfigs of the components.
# kubeadm issues them for a year and renews them only during `kubeadm
# upgrade`; without this, the control plane stops a year after it was built.
# The CAs (ten years) are not renewed here; CertificateDaysLeft and its alarm
# watch them with the rest.
#
# A daily timer runs it on every control-plane node. Renewing restarts the
# node's etcd member and control-plane components, so the nodes take turns:
# the node whose etcd peer address sorts n-th renews n days later, none
# restarts anything while an etcd member is unhealthy, and a renewal holds the
# rollout's lock (rollout-lock.sh), so it never overlaps a rollout.
set -Eeuo pipefail
RENEW_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=control-plane.sh
. "$RENEW_HERE/control-plane.sh"
# shellcheck source=rollout-lock.sh
. "$RENEW_HERE/rollout-lock.sh"
SCRIPT_NAME=renew-certificates

HEALTH_WAIT_SECONDS=${HEALTH_WAIT_SECONDS:-600}

PKI_DIR=/etc/kubernetes/pki

# When the first of this node's kubeadm-managed certificates expires, in seconds since the epoch (kubeadm's reading).
certificates_first_expiry() {
  local report
  report=$(kubeadm certs check-expiration -o json 2>/dev/null) || die "kubeadm certs check-expiration failed"
  jq -r '[.certificates[] | select((.missing | not) and (.externallyManaged | not)) | .expirationDate | fromdateiso8601] | min // empty' <<<"$report" |
    grep -E '^[0-9]+$' || die "kubeadm found no certificates to check: $report"
}

# This node's turn: how many days after the first node it renews (0 for the
# node whose etcd peer address sorts first).
renewal_day_offset() {
  local ip members
  ip=$(retry 10 imds meta-data/local-ipv4)
  members=$(retry 5 etcdctl_here member list -w simple) || die "cannot list etcd members"
  awk -F', ' '{ sub(/^https:\/\//, "", $4); sub(/:[0-9]+$/, "", $4); print $4 }' <<<"$members" | sort -V |
    awk -v ip="$ip" '$0 == ip { print NR - 1; found = 1 } END { if (!found) exit 1 }' ||
    die "this node ($ip) is not an etcd member"
}

wait_until() {
  local what=$1 deadline=$((SECONDS + HEALTH_WAIT_SECONDS))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || die "$what within ${HEALTH_WAIT_SECONDS}s"
    sleep 2
  done
}

running_container() {
  crictl ps --name "^$1\$" --state running -q | head -n 1
}

component_healthy() {
  case $1 in
    etcd) etcdctl_here endpoint health >/dev/null 2>&1 ;;
    kube-apiserver) curl -fsS --max-time 5 --cacert "$ROOT$PKI_DIR/ca.crt" https://127.0.0.1:6443/readyz >/dev/null 2>&1 ;;
    # Self-signed serving certificates on loopback: only whether they answer matters here.
    kube-controller-manager) curl -fsSk --max-time 5 https://127.0.0.1:10257/healthz >/dev/null 2>&1 ;;
    kube-scheduler) curl -fsSk --max-time 5 https://127.0.0.1:10259/healthz >/dev/null 2>&1 ;;
  esac
}

# restart_component NAME: stops the static pod's container; the kubelet starts
# a new one, which reads the renewed files. Returns once the new one is healthy.
restart_component() {
  local name=$1 old
  old=$(running_container "$name")
  [[ -n $old ]] || die "$name is not running; not renewing under a broken control plane"
  crictl stop "$old" >/dev/null
  wait_until "the kubelet did not restart $name" new_container_running "$name" "$old"
  wait_until "$name is not healthy after its restart" component_healthy "$name"
  log "restarted $name with the renewed certificates"
}

new_container_running() {
  local now
  now=$(running_container "$1")
  [[ -n $now && $now != "$2" ]]
}

main() {
  load_config
  local expiry days offset due component renewed
  expiry=$(certificates_first_expiry)
  days=$(((expiry - $(date +%s)) / 86400))
  offset=$(renewal_day_offset)
  due=$((CERTIFICATE_RENEW_BEFORE_DAYS - offset))
  if ((days > due)); then
    log "this node's certificates are valid for $days more days; it renews them at $due days left"
    return 0
  fi
  INSTANCE_ID=$(retry 10 imds meta-data/instance-id)
  if ! acquire_rollout_lock; then
    log "this node's certificates expire in $days days; a rollout holds the lock, so they are renewed at the next run"
    return 0
  fi
  trap 'release_rollout_lock' EXIT
  log "this node's certificates expire in $days days; renewing them"
  wait_until "etcd is not healthy: not restarting this node's member" etcd_all_healthy
  kubeadm certs renew all >/dev/null
  for component in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    restart_component "$component"
  done
  renewed=$(certificates_first_expiry)
  ((renewed > expiry)) || die "kubeadm renewed the certificates, but the first still expires in $(((renewed - $(date +%s)) / 86400)) days"
  log "renewed this node's certificates: valid for $(((renewed - $(date +%s)) / 86400)) more days"
}

# Sourced by tests for its functions; run by its timer otherwise.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
