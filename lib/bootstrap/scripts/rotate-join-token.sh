#!/usr/bin/env bash
# Keeps a valid bootstrap token in SSM for joining nodes. Run by a systemd timer
# on every control-plane node. It creates a new token only when the one in SSM
# expires within JOIN_TOKEN_RENEW_BEFORE_SECONDS (or the cluster no longer
# knows it). With no token published at all (the parameter is unset, or gone
# because Terraform is destroying the cluster) it does nothing. Rotators on other
# nodes may race: each creates a valid token and the last write wins.
#
# A token SSM no longer names is revoked once its successor in SSM is an hour
# old, the init token included, rather than left valid until it expires: a
# foothold that read an old token loses it. The hour lets a node that read it
# just before the rotation finish its join.
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

# revoke_superseded CURRENT: once the token in SSM is an hour old, deletes our
# other tokens: each was replaced in SSM by it (or by an earlier one), or lost a
# race to publish, at least an hour ago. The token's age is its lifetime minus
# what it has left.
revoke_superseded() {
  local current=$1 tokens expires age token
  tokens=$(kubeadm token list -o json | jq -cs --arg description "$JOIN_TOKEN_DESCRIPTION" '[.[] | select(.description == $description)]')
  expires=$(jq -r --arg current "$current" '.[] | select(.token == $current) | .expires' <<<"$tokens")
  [[ -n $expires ]] || return 0 # the cluster does not know it: this run replaces it, the next ones revoke
  age=$(($(date +%s) - $(date -d "$expires" +%s) + JOIN_TOKEN_TTL_SECONDS))
  ((age >= 3600)) || return 0
  for token in $(jq -r --arg current "$current" '.[] | select(.token != $current) | .token' <<<"$tokens"); do
    if kubeadm token delete "$token" >/dev/null; then
      log "revoked join token ${token%%.*}: the one in SSM replaced it over an hour ago"
    else
      log "could not revoke join token ${token%%.*}; the next run tries again"
    fi
  done
}

main() {
  load_config
  local current="" left=0 status=0
  current=$(ssm_get "$SSM_JOIN_TOKEN") || status=$?
  if ((status == 3)); then
    # A put would create the parameter again after a destroy, and break a re-created cluster of the same name.
    log "no join token published in SSM; nothing to do (the first control-plane node publishes it)"
    return 0
  fi
  ((status == 0)) || die "cannot read the join token from SSM"
  revoke_superseded "$current"
  left=$(token_seconds_left "$current")
  if ((left > JOIN_TOKEN_RENEW_BEFORE_SECONDS)); then
    log "join token valid for ${left}s more; nothing to do"
    return 0
  fi
  log "join token expires in ${left}s; creating a new one"
  mkdir -p "$STATE_DIR/run"
  kubeadm token create --ttl "$JOIN_TOKEN_TTL" --description "$JOIN_TOKEN_DESCRIPTION" |
    ssm_put "$SSM_JOIN_TOKEN" SecureString
  log "join token rotated"
}

main "$@"
