#!/usr/bin/env bash
# Keeps a valid bootstrap token in SSM for joining nodes. Run by a systemd timer
# on every control-plane node. It creates a new token only when the one in SSM
# expires within JOIN_TOKEN_RENEW_BEFORE_SECONDS (or is gone). Rotators on other
# nodes may race: each creates a valid token and the last write wins; no token
# is deleted early, so no joining node is broken. Expired tokens are deleted
# by the tokencleaner controller.
set -Eeuo pipefail
SCRIPT_NAME=rotate-join-token
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# Seconds until the token expires, per the cluster; 0 if it is unknown there.
token_seconds_left() {
  local expires
  expires=$(kubeadm token list -o json | jq -rs --arg t "$1" '[.[] | select(.token == $t) | .expires][0] // ""')
  [[ -n $expires ]] || { echo 0 && return 0; }
  echo $(($(date -d "$expires" +%s) - $(date +%s)))
}

main() {
  load_config
  local current="" left=0
  current=$(ssm_get "$SSM_JOIN_TOKEN") || [[ $? == 3 ]]
  [[ -n $current ]] && left=$(token_seconds_left "$current")
  if ((left > JOIN_TOKEN_RENEW_BEFORE_SECONDS)); then
    log "join token valid for ${left}s more; nothing to do"
    return 0
  fi
  log "join token expires in ${left}s; creating a new one"
  mkdir -p "$STATE_DIR/run"
  kubeadm token create --ttl "$JOIN_TOKEN_TTL" --description "kubeadm-aws join token, rotated into SSM" |
    ssm_put "$SSM_JOIN_TOKEN" SecureString
  log "join token rotated"
}

main "$@"
