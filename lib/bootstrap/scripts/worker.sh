#!/usr/bin/env bash
# Bootstraps a worker node: prepares it, waits for the cluster's join
# credentials in SSM, joins with `kubeadm join` (CA hash always pinned), waits
# until its Node is Ready, then completes the launch lifecycle hook with
# CONTINUE. On failure it answers ABANDON, so the Auto Scaling group replaces
# it. Idempotent: a rerun skips finished steps.
set -Eeuo pipefail
SCRIPT_NAME=worker
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=prepare-node.sh
. "$HERE/prepare-node.sh"

complete_launch_hook() {
  retry 5 aws_cli autoscaling complete-lifecycle-action --auto-scaling-group-name "$AUTO_SCALING_GROUP" \
    --lifecycle-hook-name "$LAUNCH_HOOK" --instance-id "$INSTANCE_ID" --lifecycle-action-result "$1" >/dev/null
}

on_exit() {
  local status=$?
  ((status == 0)) && return 0
  log "bootstrap failed in step ${CURRENT_STEP:-(none)} with exit $status; abandoning the launch"
  if [[ -n ${INSTANCE_ID:-} ]] && ! step_done launch-hook; then
    complete_launch_hook ABANDON || report_unhealthy
  else
    report_unhealthy
  fi
}

wait_until_ready() {
  local deadline=$((SECONDS + NODE_READY_TIMEOUT_SECONDS)) node ready
  node=$(retry 10 imds meta-data/local-hostname)
  while :; do
    ready=$(kubectl --kubeconfig "$ROOT/etc/kubernetes/kubelet.conf" get node "$node" \
      -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) || ready=""
    [[ $ready == True ]] && return 0
    ((SECONDS < deadline)) || die "node $node was not Ready within ${NODE_READY_TIMEOUT_SECONDS}s"
    sleep "$POLL_SECONDS"
  done
}

main() {
  begin_bootstrap
  # The cluster first: its recorded version decides whether this node may join (prepare_host checks it).
  run_step wait-for-cluster wait_for_join_credentials
  prepare_host worker
  run_step install-kubernetes install_kubernetes
  run_step kubeadm-join kubeadm_join
  run_step restrict-kubernetes-files restrict_kubernetes_files
  run_step node-ready wait_until_ready
  run_step launch-hook complete_launch_hook CONTINUE
  log "worker node is Ready and in service"
}

main "$@"
