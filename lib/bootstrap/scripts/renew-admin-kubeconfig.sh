#!/usr/bin/env bash
# Re-issues the admin kubeconfig kept in Secrets Manager before its client
# certificate expires. kubeadm makes it valid for a year at init, and nothing
# else renews the stored copy: without this, operators lose their way in after
# a year. A daily timer runs it on every control-plane node; two nodes renewing
# at once is harmless (both copies are valid).
set -Eeuo pipefail
SCRIPT_NAME=renew-admin-kubeconfig
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# kubeconfig_days_left FILE: days until the client certificate in a kubeconfig expires.
kubeconfig_days_left() {
  local end
  end=$(sed -n 's/^ *client-certificate-data: *//p' "$1" | base64 -d | openssl x509 -enddate -noout | cut -d= -f2) ||
    die "no client certificate in the stored admin kubeconfig"
  echo $((($(date -d "$end" +%s) - $(date +%s)) / 86400))
}

# kubeadm's own command, with the cluster's ClusterConfiguration and this node's CA:
# the same user, group and endpoint as the kubeconfig of kubeadm init.
issue_admin_kubeconfig() {
  local config="$STATE_DIR/run/cluster-configuration.yaml"
  kubectl --kubeconfig "$ROOT/etc/kubernetes/admin.conf" -n kube-system get configmap kubeadm-config \
    -o jsonpath='{.data.ClusterConfiguration}' | write_private "$config"
  kubeadm kubeconfig user --config "$config" --client-name kubernetes-admin --org kubeadm:cluster-admins \
    --validity-period "$((ADMIN_KUBECONFIG_VALIDITY_DAYS * 24))h" 2>/dev/null
  rm -f "$config"
}

main() {
  load_config
  mkdir -p "$STATE_DIR/run"
  local stored="$STATE_DIR/run/admin-stored.conf" issued="$STATE_DIR/run/admin-issued.conf" days
  retry 5 secret_get "$SECRET_ADMIN_KUBECONFIG" | write_private "$stored"
  days=$(kubeconfig_days_left "$stored")
  rm -f "$stored"
  if ((days > CERTIFICATE_RENEW_BEFORE_DAYS)); then
    log "the stored admin kubeconfig is valid for $days more days; nothing to do"
    return 0
  fi
  log "the stored admin kubeconfig expires in $days days; issuing a new one"
  issue_admin_kubeconfig | write_private "$issued"
  secret_put "$SECRET_ADMIN_KUBECONFIG" "$issued"
  rm -f "$issued"
  log "stored a new admin kubeconfig, valid for $ADMIN_KUBECONFIG_VALIDITY_DAYS days"
}

# Sourced by tests for its functions; run by its timer otherwise.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
