#!/usr/bin/env bash
# The init lock: which control-plane node runs `kubeadm init`. Sourced after lib.sh.
#
# The lock is an SSM parameter. The first node creates it without --overwrite,
# which AWS makes atomic: exactly one creator wins. A lock whose holder is gone
# (instance not running, or older than LOCK_TIMEOUT_SECONDS) before the cluster
# is initialized may be taken over: a claimant overwrites the value with
# "<instance> <epoch> <version it replaces>". The parameter's version history
# is append-only and totally ordered, so every node folds it the same way: the
# holder changes only with the first claim that names the current holder's
# version. Later claims for the same version lose, whatever the current value.

# lock_holder: prints "<instance-id> <epoch> <version>" of the holder; exit 3 when there is no lock.
lock_holder() {
  # shellcheck disable=SC2016 # $p and $claim are jq variables
  aws_read ParameterNotFound '
    reduce (.Parameters | sort_by(.Version))[] as $p (null;
      ($p.Value | split(" ")) as $claim
      | if . == null or (($claim[2] // "") == (.version | tostring))
        then {id: $claim[0], epoch: $claim[1], version: $p.Version}
        else . end)
    | "\(.id) \(.epoch) \(.version)"' ssm get-parameter-history --name "$SSM_INIT_LOCK"
}

# try_create_lock: succeeds only for the node that creates the lock.
try_create_lock() {
  local out status=0
  out=$(aws_cli ssm put-parameter --name "$SSM_INIT_LOCK" --type String --value "$INSTANCE_ID $(date +%s)" 2>&1) || status=$?
  ((status == 0)) && return 0
  grep -q ParameterAlreadyExists <<<"$out" || log "ssm put-parameter (create lock) failed: $out"
  return 1
}

instance_alive() {
  local state
  state=$(aws_cli ec2 describe-instances --filters "Name=instance-id,Values=$1" |
    jq -r '[.Reservations[].Instances[].State.Name][0] // "gone"') || return 0 # unknown counts as alive
  [[ $state == pending || $state == running ]]
}

# try_take_over_lock ID EPOCH VERSION: claims a stale lock; succeeds if this node's claim won.
try_take_over_lock() {
  local holder_id=$1 epoch=$2 version=$3
  if instance_alive "$holder_id" && (($(date +%s) - epoch < LOCK_TIMEOUT_SECONDS)); then
    return 1
  fi
  log "init lock of $holder_id (version $version) is stale; claiming it"
  aws_cli ssm put-parameter --name "$SSM_INIT_LOCK" --type String --overwrite \
    --value "$INSTANCE_ID $(date +%s) $version" >/dev/null || return 1
  local now_holder
  now_holder=$(lock_holder) || return 1
  [[ ${now_holder%% *} == "$INSTANCE_ID" ]]
}

# holds_lock: this node already holds the lock (a rerun after a reboot during init).
holds_lock() {
  local holder
  holder=$(lock_holder) || return 1
  [[ ${holder%% *} == "$INSTANCE_ID" ]]
}
