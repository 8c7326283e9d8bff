#!/usr/bin/env bash
# Shared by the node scripts: configuration, logging, retries, AWS calls and
# step markers. Sourced, never run. Under systemd, stdout reaches both the
# journal and the console (StandardOutput=journal+console).

# Failures inside $(...) end the script too.
shopt -s inherit_errexit

# Tests move every path under a sandbox root.
ROOT="${KUBEADM_AWS_ROOT:-}"
ENV_FILE="${ROOT}/etc/kubeadm-aws/node.env"

load_config() {
  # shellcheck source=/dev/null
  set -a && . "$ENV_FILE" && set +a
  STATE_DIR="${ROOT}${STATE_DIR}"
  RETRY_DELAY_SECONDS="${RETRY_DELAY_SECONDS:-2}"
  # How long the first downloads wait for the internet: longer than a NAT gateway and its route take.
  INTERNET_WAIT_SECONDS="${INTERNET_WAIT_SECONDS:-900}"
  mkdir -p "$STATE_DIR/done"
}

# begin_bootstrap: loads the configuration, makes the caller's on_exit report
# failures (also when systemd stops the script), and learns the instance id.
# shellcheck disable=SC2034 # INSTANCE_ID is read by the calling script
begin_bootstrap() {
  load_config
  trap on_exit EXIT
  trap 'exit 143' TERM
  mkdir -p "$STATE_DIR/run" && chmod 0700 "$STATE_DIR/run"
  INSTANCE_ID=$(retry 10 imds meta-data/instance-id)
}

log() {
  # stderr, so functions can print results on stdout; systemd sends both to journal and console.
  # printf's own clock (no date process): scripts log hundreds of lines, and a boot's forks add up.
  TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T kubeadm-aws[%s]: %s\n' -1 "${SCRIPT_NAME:-node}" "$*" >&2
}

die() {
  log "error: $*"
  return 1
}

# retry ATTEMPTS COMMAND...: reruns a failing command with exponential backoff
# (RETRY_DELAY_SECONDS doubling, capped at 60 s, plus jitter).
retry() {
  local attempts=$1 n=1 delay=$RETRY_DELAY_SECONDS
  shift
  until "$@"; do
    if ((n >= attempts)); then
      log "giving up after $n attempts: $1"
      return 1
    fi
    log "attempt $n of $attempts failed: $1; retrying in ${delay}s"
    sleep "$((delay + (delay > 0 ? RANDOM % (delay + 1) : 0)))"
    n=$((n + 1))
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
}

# retry_for SECONDS COMMAND...: like retry, for as long as SECONDS, not a number
# of attempts: for what waits on infrastructure that may take minutes (a NAT
# gateway and its route, the snap store seeding).
retry_for() {
  local seconds=$1 deadline=$(($1 + SECONDS)) delay=$RETRY_DELAY_SECONDS n=1
  shift
  until "$@"; do
    if ((SECONDS >= deadline)); then
      log "giving up after $n attempts in ${seconds}s: $1"
      return 1
    fi
    log "attempt $n failed: $1; retrying in ${delay}s"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2 > 30 ? 30 : (delay > 0 ? delay * 2 : 0)))
  done
}

# apt-get that waits for the dpkg lock (unattended-upgrades runs at first boot) instead of failing.
apt_get() {
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
}

# download_verified URL SHA256 FILE: downloads a file and keeps it only if its sha256 matches.
download_verified() {
  local url=$1 sha=$2 file=$3 got
  retry_for "$INTERNET_WAIT_SECONDS" curl -fsSL "$url" -o "$file.download"
  got=$(sha256sum "$file.download" | cut -d' ' -f1)
  if [[ $got != "$sha" ]]; then
    rm -f "$file.download"
    # `|| return`: callers may run this in a condition, where set -e does not stop a function.
    die "checksum mismatch for $url: expected sha256 $sha, got $got" || return
  fi
  mv "$file.download" "$file"
}

# run_step NAME COMMAND...: runs a step once per node. A marker records
# success, so a rerun or a reboot skips what is done. Failures end the script
# (set -e); the EXIT trap of the caller reports them.
# CURRENT_STEP names the running step for the scripts' EXIT traps.
# shellcheck disable=SC2034
CURRENT_STEP=""
# shellcheck disable=SC2034
run_step() {
  local name=$1 started=$SECONDS
  shift
  if [[ -e "$STATE_DIR/done/$name" ]]; then
    log "step=$name status=skipped reason=done"
    return 0
  fi
  CURRENT_STEP=$name
  log "step=$name status=started"
  "$@"
  TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T\n' -1 >"$STATE_DIR/done/$name"
  log "step=$name status=ok duration=$((SECONDS - started))s"
  CURRENT_STEP=""
}

step_done() {
  [[ -e "$STATE_DIR/done/$1" ]]
}

# Instance metadata through IMDSv2 (a session token first).
imds() {
  local token
  token=$(curl -sSf -X PUT "http://169.254.169.254/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300") || return 1
  curl -sSf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"
}

# The account comes from the instance identity document, so user data needs
# no Terraform value. (sed, not jq: this runs before packages are installed.)
account_id() {
  imds dynamic/instance-identity/document | sed -n 's/.*"accountId" *: *"\([0-9]*\)".*/\1/p'
}

# Bucket names, as lib/naming.ts derives them.
cluster_bucket() {
  echo "$CLUSTER_NAME-$1-$(retry 10 account_id)-$AWS_REGION"
}

backup_bucket() {
  cluster_bucket etcd
}

# Nodes derive the names of the cluster's buckets; a bucket of that name in
# another account must not serve them, so every request names the owner.
bucket_owner_args() {
  local bucket=$1 account
  account=$(retry 10 account_id) || return
  [[ -n $account ]] || return
  if [[ $bucket == "$CLUSTER_NAME-nodes-$account-$AWS_REGION" || $bucket == "$CLUSTER_NAME-etcd-$account-$AWS_REGION" ]]; then
    printf '%s\n' --expected-bucket-owner "$account"
  fi
}

# s3_get s3://BUCKET/KEY FILE: downloads an object, checking the owner of the cluster's buckets.
s3_get() {
  local bucket=${1#s3://} args owner=()
  bucket=${bucket%%/*}
  args=$(bucket_owner_args "$bucket") || return
  [[ -z $args ]] || mapfile -t owner <<<"$args"
  aws_cli s3 cp --only-show-errors "${owner[@]}" "$1" "$2"
}

# The AWS CLI v2 from its snap (Ubuntu 24.04 has no awscli package); the store
# verifies the snap's signature. It is the first thing a node fetches from the
# internet, so it waits as long as a new NAT gateway and its route may take,
# and for snapd to finish seeding (a snap install before that fails).
install_aws_cli() {
  command -v aws >/dev/null && return 0
  retry_for "$INTERNET_WAIT_SECONDS" snap wait system seed.loaded
  retry_for "$INTERNET_WAIT_SECONDS" snap install aws-cli --classic --channel="$AWS_CLI_SNAP_CHANNEL"
}

aws_cli() {
  aws --region "$AWS_REGION" --output json "$@"
}

# aws_read NOT_FOUND JQ_FILTER ARGS...: runs a read-only AWS call and prints the
# filtered answer; exit 3 when AWS answers with the NOT_FOUND error code.
aws_read() {
  local not_found=$1 filter=$2 out status=0
  shift 2
  out=$(aws_cli "$@" 2>&1) || status=$?
  if ((status == 0)); then
    jq -r "$filter" <<<"$out"
  elif grep -q "$not_found" <<<"$out"; then
    return 3
  else
    log "aws $1 $2 failed: $out"
    return 1
  fi
}

# ssm_get NAME: prints a parameter's value (decrypted); exit 3 when it does not
# exist or still holds the value Terraform created it with (SSM_UNSET_VALUE).
ssm_get() {
  local value
  value=$(aws_read ParameterNotFound .Parameter.Value ssm get-parameter --name "$1" --with-decryption) || return
  [[ $value != "${SSM_UNSET_VALUE:-}" ]] || return 3
  printf '%s\n' "$value"
}

# ssm_put NAME TYPE < VALUE: writes a parameter (overwriting), encrypted with
# the cluster key when it is a SecureString. The value goes through a private
# file of its own (two scripts may put at once), never the command line, and
# loses trailing newlines.
ssm_put() {
  local key=() file
  [[ $2 == SecureString ]] && key=(--key-id "$KMS_KEY_ID")
  mkdir -p "$STATE_DIR/run"
  file=$(mktemp "$STATE_DIR/run/ssm-value.XXXXXX")
  printf '%s' "$(cat)" >"$file"
  retry 5 aws_cli ssm put-parameter --name "$1" --type "$2" "${key[@]}" --overwrite --value "file://$file" >/dev/null
  rm -f "$file"
}

# secret_get ID: prints a secret's current value; exit 3 when it has none yet.
secret_get() {
  aws_read ResourceNotFoundException .SecretString secretsmanager get-secret-value --secret-id "$1"
}

secret_put() {
  retry 5 aws_cli secretsmanager put-secret-value --secret-id "$1" --secret-string "file://$2" >/dev/null
}

# Tells the Auto Scaling group this instance is broken, so it replaces it.
# Without the AWS CLI (it failed to install) or the API, the instance powers
# itself off: launch templates terminate an instance that shuts down, and the
# group replaces a terminated instance. Either way no broken node stays.
report_unhealthy() {
  local instance_id=""
  instance_id=$(imds meta-data/instance-id) || true
  if [[ -n $instance_id ]] && command -v aws >/dev/null; then
    log "marking instance $instance_id unhealthy so its Auto Scaling group replaces it"
    if retry 3 aws_cli autoscaling set-instance-health --instance-id "$instance_id" --health-status Unhealthy --no-should-respect-grace-period; then
      return 0
    fi
  fi
  log "cannot tell the Auto Scaling group; powering off, which terminates this instance so the group replaces it"
  systemctl poweroff --no-block || true
}

# What an interrupted kubeadm init or join leaves: manifests or a kubelet kubeconfig.
kubeadm_ran_partly() {
  compgen -G "$ROOT/etc/kubernetes/manifests/*.yaml" >/dev/null || [[ -e "$ROOT/etc/kubernetes/kubelet.conf" ]]
}

# A crash during kubeadm leaves partial state that makes a rerun fail; reset it.
reset_partial_kubeadm() {
  if kubeadm_ran_partly; then
    log "resetting a partial kubeadm run"
    kubeadm reset --force
  fi
}

# The first control-plane node publishes the join token, the version and, last,
# the CA hash, once the cluster's PKI is stored and its add-ons applied.
wait_for_join_credentials() {
  local deadline=$((SECONDS + CLUSTER_WAIT_SECONDS)) status
  while :; do
    status=0
    ssm_get "$SSM_CA_CERT_HASH" >/dev/null || status=$?
    ((status == 0)) && return 0
    ((status == 3)) && log "no join credentials in SSM yet; waiting for the first control-plane node"
    ((SECONDS < deadline)) || die "the cluster published no join credentials within ${CLUSTER_WAIT_SECONDS}s"
    sleep "$POLL_SECONDS"
  done
}

# Joins with the token and CA hash the control plane keeps in SSM, read now,
# so a node started long after the cluster uses the most recently rotated token.
# The rendered config holds the token: it is deleted once used.
join_with_published_credentials() {
  export JOIN_TOKEN CA_CERT_HASH KUBERNETES_VERSION="" PUBLIC_API_HOST=""
  JOIN_TOKEN=$(retry 5 ssm_get "$SSM_JOIN_TOKEN")
  CA_CERT_HASH=$(retry 5 ssm_get "$SSM_CA_CERT_HASH")
  render_template "$ROOT$KUBEADM_DIR/join.yaml" "$STATE_DIR/run/join.yaml"
  local status=0
  kubeadm join --config "$STATE_DIR/run/join.yaml" || status=$?
  rm -f "$STATE_DIR/run/join.yaml"
  return "$status"
}

kubeadm_join() {
  reset_partial_kubeadm
  join_with_published_credentials
}

# Fills the runtime placeholders of a rendered config, and nothing else.
render_template() {
  local template=$1 output=$2
  install -m 0600 /dev/null "$output"
  envsubst "$RUNTIME_PLACEHOLDERS" <"$template" >"$output"
}

# Writes a file with mode 0600 from stdin, creating its directory.
write_private() {
  mkdir -p "$(dirname "$1")"
  install -m 0600 /dev/null "$1"
  cat >"$1"
}

# CIS Kubernetes Benchmark 1.1.x and 4.1.x: owner root, and no access for group
# or others to what kubeadm and the kubelet package write (static pod manifests,
# kubeconfigs, the kubelet config and its systemd drop-ins, keys). Certificates
# lose write and execute bits only. Never loosens a mode; safe to rerun.
restrict_kubernetes_files() {
  local file
  local -a private=()
  shopt -s nullglob
  private=("$ROOT"/etc/kubernetes/manifests/*.yaml "$ROOT"/etc/kubernetes/*.conf "$ROOT"/var/lib/kubelet/config.yaml
    "$ROOT"/etc/systemd/system/kubelet.service.d/*.conf "$ROOT"/usr/lib/systemd/system/kubelet.service.d/*.conf
    "$ROOT"/etc/kubernetes/pki/*.key "$ROOT"/etc/kubernetes/pki/etcd/*.key)
  shopt -u nullglob
  for file in "${private[@]}"; do
    chown root:root "$file"
    chmod 600 "$file"
  done
  if [[ -d "$ROOT/etc/kubernetes/pki" ]]; then
    chown -R root:root "$ROOT/etc/kubernetes/pki"
    find "$ROOT/etc/kubernetes/pki" -type f -name '*.crt' -exec chmod u-x,go-wx {} +
  fi
  if [[ -d "$ROOT/var/lib/etcd" ]]; then chmod 700 "$ROOT/var/lib/etcd"; fi
}
