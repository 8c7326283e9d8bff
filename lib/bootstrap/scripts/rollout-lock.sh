#!/usr/bin/env bash
# The control plane's rollout lock, which lets one node at a time change what
# it runs: a rollout (roll-control-plane.sh) and a certificate renewal
# (renew-certificates.sh) both take it, so they never overlap. Sourced after
# control-plane.sh, which brings lib.sh and the init lock's functions.

# The rollout lock: the init lock's functions (init-lock.sh) on another parameter. Only a holder whose instance is
# gone loses it; a live holder that failed keeps it, so the rollout stops where it failed.
with_rollout_lock() {
  SSM_INIT_LOCK=$SSM_ROLLOUT_LOCK LOCK_TIMEOUT_SECONDS=$((10 * 365 * 86400)) "$@"
}

acquire_rollout_lock() {
  local holder
  if with_rollout_lock try_create_lock || with_rollout_lock holds_lock; then return 0; fi
  holder=$(with_rollout_lock lock_holder) || return 1
  # shellcheck disable=SC2086 # holder is "<id> <epoch> <version>"
  if with_rollout_lock try_take_over_lock $holder; then return 0; fi
  log "instance ${holder%% *} holds the rollout lock; waiting for its turn to end"
  return 1
}

release_rollout_lock() {
  local status=0
  retry 5 aws_read ParameterNotFound . ssm delete-parameter --name "$SSM_ROLLOUT_LOCK" >/dev/null || status=$?
  ((status == 0 || status == 3)) || die "cannot release the rollout lock $SSM_ROLLOUT_LOCK"
}
