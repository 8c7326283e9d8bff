#!/usr/bin/env bash
# The first thing a node runs, shipped in user data with lib.sh and the
# environment file. It fetches this node's bundle (every other script and
# config) from the cluster's node-artifacts bucket, checks it against the
# sha256 in the environment file, unpacks it, and hands over to the node's
# bootstrap script. User data stays small, and nodes run exactly the bundle
# that Terraform planned.
set -Eeuo pipefail
SCRIPT_NAME=node-bootstrap
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# Before the bundle arrives there is no role script to report a failure, so
# this one does: the Auto Scaling group must replace the node either way.
on_exit() {
  local status=$?
  ((status == 0)) && return 0
  log "fetching the node bundle failed with exit $status"
  if [[ $NODE_ROLE == worker && -n ${INSTANCE_ID:-} ]]; then
    aws_cli autoscaling complete-lifecycle-action --auto-scaling-group-name "$AUTO_SCALING_GROUP" \
      --lifecycle-hook-name "$LAUNCH_HOOK" --instance-id "$INSTANCE_ID" --lifecycle-action-result ABANDON >/dev/null || report_unhealthy
  else
    report_unhealthy
  fi
}

fetch_bundle() {
  local bundle="$STATE_DIR/run/bundle.tar.gz" bucket
  bucket=$(cluster_bucket nodes)
  # Terraform uploads the bundle while instances boot; wait for it.
  retry 12 s3_get "s3://$bucket/$BUNDLE_KEY" "$bundle"
  if ! echo "$BUNDLE_SHA256  $bundle" | sha256sum --check --status; then
    die "bundle s3://$bucket/$BUNDLE_KEY does not match sha256 $BUNDLE_SHA256; refusing to run it"
  fi
  tar -xzf "$bundle" -C "$ROOT/" --no-overwrite-dir --no-same-owner
  rm -f "$bundle"
  systemctl daemon-reload
}

main() {
  begin_bootstrap
  run_step install-aws-cli install_aws_cli
  # The bundle's name carries its checksum: a new bundle is a new step.
  run_step "bundle-${BUNDLE_SHA256:0:16}" fetch_bundle
  # Logs ship from now on, before kubeadm runs: a node that never joins still leaves its log.
  if [[ $LOG_SHIPPING == true ]]; then
    run_step log-shipping systemctl enable --now kubeadm-aws-logs.service
  fi
  trap - EXIT
  exec "$ROOT$SCRIPTS_DIR/$BOOTSTRAP_SCRIPT"
}

main "$@"
