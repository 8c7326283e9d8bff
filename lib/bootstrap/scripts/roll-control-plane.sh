#!/usr/bin/env bash
# Rolls this control-plane node to the bundle Terraform last planned, so that
# a change of a kubeadm-owned setting or of the Kubernetes patch reaches the
# running cluster. A timer runs it every few minutes on every control-plane
# node; the nodes take turns under a lock, one at a time:
#
#   1. Terraform writes the bundle's key and sha256 to SSM (SSM_ROLLOUT_BUNDLE).
#      A node is out of date when its last rolled bundle is another one, or
#      when the cluster's record of the bundle its ClusterConfiguration came
#      from (ConfigMap kube-system/kubeadm-aws-rollout, which the first node
#      writes at init) is: a node launched with the new bundle then still
#      joined with the old configuration.
#   2. Nothing moves while an operator's pause parameter exists, or while the
#      lock is held by another live node.
#   3. Gates, before the node changes anything: every etcd member healthy with
#      one leader, and the API ready through the load balancer.
#   4. The first node of a rollout takes an etcd snapshot to the backup bucket
#      (no snapshot, no rollout), writes the new ClusterConfiguration into
#      kube-system/kubeadm-config and the kubelet's into kubelet-config, runs
#      `kubeadm upgrade apply`, then updates kube-proxy's configuration; the
#      others run `kubeadm upgrade node`, which writes their kubelet's.
#      kubeadm rolls a component back by itself when it does not come up
#      healthy.
#   5. The apiserver's certificate is issued again when the bundle changes its
#      names (apiServer.certSANs).
#   6. The node waits until its apiserver and every etcd member are healthy,
#      records the bundle as rolled and releases the lock.
#
# A failed step keeps the lock and records where it stopped in the status
# parameter: the rollout stops with the other nodes serving, and this node
# tries again at the next run.
#
# The next minor replaces nodes instead (containerd changes with it), as
# Cluster API does, one at a time under the same lock and gates:
#   1. The first node takes the snapshot and moves the cluster's stored
#      ClusterConfiguration (and kubelet configuration) to the new bundle, and
#      records its version (SSM_CONTROL_PLANE_VERSION): control-plane nodes of
#      the new minor join only from then on.
#   2. Each node has its Auto Scaling group launch a successor from the new
#      launch template (desired capacity 2) and keeps the lock until that
#      successor's Node is Ready on the new minor, its etcd member started and
#      every member healthy: quorum never drops below the cluster's size.
#   3. It drains itself, stops its kubelet, deletes its Node, removes its etcd
#      member, terminates itself (desired capacity back to 1) and releases the
#      lock.
#   4. Once every control-plane node runs the new minor, one of them runs
#      `kubeadm upgrade apply` (kube-proxy and CoreDNS of the new minor) and
#      records the cluster's version (SSM_KUBERNETES_VERSION): workers of the
#      new minor waiting for it join, and the add-on timer applies the
#      add-ons of the new minor.
set -Eeuo pipefail
ROLLOUT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=control-plane.sh
. "$ROLLOUT_HERE/control-plane.sh"
# shellcheck source=etcd-backup.sh
. "$ROLLOUT_HERE/etcd-backup.sh"
# shellcheck source=rollout-lock.sh
. "$ROLLOUT_HERE/rollout-lock.sh"
SCRIPT_NAME=roll-control-plane

HEALTH_WAIT_SECONDS=${HEALTH_WAIT_SECONDS:-600}
# The cluster's record of the bundle whose ClusterConfiguration it runs (control-plane.sh's record_rollout).
ROLLOUT_CONFIGMAP=kubeadm-aws-rollout
# The Node annotation naming the bundle a control-plane node runs (lib/operator reads it).
NODE_BUNDLE_ANNOTATION=kubeadm-aws.io/bundle
# A node being replaced by a successor (a minor upgrade): "<since> <group> <minor> <successor>", one line.
REPLACEMENT_STATE=replacement
# Where kubeadm issues a candidate apiserver certificate, under $STATE_DIR: it holds a copy of the CA key while it
# exists, so the script removes it however it ends.
CERTIFICATE_SCRATCH=run/apiserver-certificate

kubectl_admin() {
  kubectl --kubeconfig "$ROOT/etc/kubernetes/admin.conf" "$@"
}

# The bundle this node last rolled to: the one it booted with until it rolls.
rolled_bundle() {
  cat "$STATE_DIR/rolled-bundle" 2>/dev/null || echo "$BUNDLE_KEY"
}

# The bundle this node runs, on its Node object, where operators see it (`cdktf-kubeadm-aws status`).
# Only for them: a failure is logged, and the next run writes it again.
annotate_node_bundle() {
  local name
  if ! name=$(retry 10 imds meta-data/local-hostname) ||
    ! kubectl_admin annotate --overwrite node "$name" "$NODE_BUNDLE_ANNOTATION=$(rolled_bundle)" >/dev/null; then
    log "cannot annotate this node with its bundle; the next run tries again"
  fi
}

# rollout_status STATE MESSAGE: where the rollout is, for operators (README, "Upgrading").
rollout_status() {
  jq -cn --arg state "$1" --arg message "$2" --arg bundle "$DESIRED_KEY" --arg instance "$INSTANCE_ID" \
    --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '$ARGS.named' | ssm_put "$SSM_ROLLOUT_STATUS" String
  log "rollout $1: $2"
}

api_ready_through_load_balancer() {
  curl -fsS --max-time 5 --cacert "$ROOT/etc/kubernetes/pki/ca.crt" "https://$API_ENDPOINT_HOST:6443/readyz" >/dev/null 2>&1
}

api_ready_here() {
  curl -fsS --max-time 5 --cacert "$ROOT/etc/kubernetes/pki/ca.crt" https://127.0.0.1:6443/readyz >/dev/null 2>&1
}

# Prints why the cluster must not lose a member now, or nothing.
unhealthy_reason() {
  etcd_all_healthy || { echo "etcd is not healthy (every member must answer, with one leader)" && return 0; }
  api_ready_through_load_balancer || echo "the API is not ready through the load balancer ($API_ENDPOINT_HOST)"
}

# fetch_bundle_into DIR: the desired bundle, checked against its sha256, unpacked into DIR.
fetch_bundle_into() {
  local archive="$STATE_DIR/run/rollout-bundle.tar.gz"
  retry 5 s3_get "s3://$(cluster_bucket nodes)/$DESIRED_KEY" "$archive"
  echo "$DESIRED_SHA256  $archive" | sha256sum --check --status || die "bundle $DESIRED_KEY does not match sha256 $DESIRED_SHA256; refusing it"
  rm -rf "$1" && mkdir -p "$1"
  tar -xzf "$archive" -C "$1" --no-same-owner
  rm -f "$archive"
}

# bundle_minor DIR: the Kubernetes minor of the bundle unpacked into DIR.
bundle_minor() {
  sed -n "s/^KUBERNETES_MINOR='\(.*\)'$/\1/p" "$1/etc/kubeadm-aws/bundle.env"
}

# in_bundle DIR COMMAND...: runs COMMAND with the environment of the bundle unpacked into DIR, and its templates
# (BUNDLE_ROOT): what a node of that bundle would render, without installing it. This node's state stays where it is.
in_bundle() {
  local dir=$1 state=$STATE_DIR
  shift
  (
    set -a
    # shellcheck source=/dev/null
    . "$dir/etc/kubeadm-aws/bundle.env"
    set +a
    STATE_DIR=$state BUNDLE_ROOT=$dir "$@"
  )
}

# install_bundle DIR: its files replace this node's (new files, never rewritten in place: a running script keeps
# its own), then its environment with its own key. Run units pick up changed unit files.
install_bundle() {
  local dir=$1 minor
  minor=$(bundle_minor "$dir")
  [[ $minor == "$KUBERNETES_MINOR" ]] ||
    die "the new bundle is for Kubernetes $minor, this node runs $KUBERNETES_MINOR: a minor changes by replacing nodes, not in place"
  (cd "$dir" && find . -type f ! -path ./etc/kubeadm-aws/bundle.env) | while read -r file; do
    mkdir -p "$(dirname "$ROOT/${file#./}")"
    cp -p --remove-destination "$dir/${file#./}" "$ROOT/${file#./}"
  done
  {
    cat "$dir/etc/kubeadm-aws/bundle.env"
    printf "BUNDLE_KEY='%s'\nBUNDLE_SHA256='%s'\n" "$DESIRED_KEY" "$DESIRED_SHA256"
  } | write_private "$ENV_FILE.next"
  chmod 0644 "$ENV_FILE.next" && mv "$ENV_FILE.next" "$ENV_FILE"
  systemctl daemon-reload
  load_config
}

# render_init_config FILE: the installed bundle's init.yaml (or BUNDLE_ROOT's) as this node's `kubeadm init` would
# render it. Its bootstrap token is a throwaway: kubeadm validates one, and nothing uses it.
render_init_config() {
  export KUBERNETES_VERSION="v$KUBERNETES_PATCH_VERSION" CA_CERT_HASH="" JOIN_TOKEN PUBLIC_API_HOST SERVICE_ACCOUNT_ISSUER
  JOIN_TOKEN=$(kubeadm token generate)
  PUBLIC_API_HOST=$(public_api_host)
  SERVICE_ACCOUNT_ISSUER=$(service_account_issuer)
  render_template "${BUNDLE_ROOT:-$ROOT}$KUBEADM_DIR/init.yaml" "$1"
}

# The ClusterConfiguration of the installed bundle, with this node's runtime values, on stdout.
desired_cluster_configuration() {
  local rendered="$STATE_DIR/run/rollout-init.yaml"
  render_init_config "$rendered"
  awk 'BEGIN { RS = "\n---\n" } /(^|\n)kind: ClusterConfiguration(\n|$)/ { print }' "$rendered"
  rm -f "$rendered"
}

# The bundle whose ClusterConfiguration the cluster runs; empty when there is no record (a cluster created before it).
cluster_rolled_bundle() {
  kubectl_admin -n kube-system get configmap "$ROLLOUT_CONFIGMAP" --ignore-not-found -o jsonpath='{.data.bundle}'
}

snapshot_before_rollout() {
  [[ $BACKUP_ENABLED == true ]] ||
    die "etcd backups are off (etcd.backup.enabled: false): a rollout starts only after a snapshot in the backup bucket"
  store_snapshot before-rollout
}

# kube-system/kubeadm-config gets the bundle's ClusterConfiguration: kubeadm upgrade renders from it, and nodes
# that join later read it.
update_kubeadm_config() {
  local config="$STATE_DIR/run/cluster-configuration.yaml"
  desired_cluster_configuration | write_private "$config"
  [[ -s $config ]] || die "the new bundle's init.yaml has no ClusterConfiguration"
  jq -n --rawfile c "$config" '{data: {ClusterConfiguration: $c}}' >"$config.patch"
  kubectl_admin -n kube-system patch configmap kubeadm-config --type merge --patch-file "$config.patch"
  rm -f "$config" "$config.patch"
}

# kube-system/kubelet-config gets the bundle's KubeletConfiguration, as kubeadm init uploaded it: kubeadm upgrade
# writes each control-plane node's kubelet configuration from it, and nodes that join later read it.
update_kubelet_config() {
  local config="$STATE_DIR/run/rollout-init.yaml"
  render_init_config "$config"
  kubeadm init phase upload-config kubelet --config "$config" --kubeconfig "$ROOT/etc/kubernetes/admin.conf"
  rm -f "$config"
}

kube_proxy_configuration() {
  kubectl_admin -n kube-system get configmap kube-proxy -o jsonpath='{.data.config\.conf}'
}

# kube-proxy's configuration (ConfigMap kube-system/kube-proxy) from the bundle, once kubeadm upgrade apply has
# upgraded kube-proxy. Its DaemonSet restarts its pods, a node at a time, only when the configuration changed: they
# do not read it again by themselves.
update_kube_proxy() {
  local config="$STATE_DIR/run/rollout-init.yaml" before
  before=$(kube_proxy_configuration)
  render_init_config "$config"
  kubeadm init phase addon kube-proxy --config "$config" --kubeconfig "$ROOT/etc/kubernetes/admin.conf"
  rm -f "$config"
  if [[ $(kube_proxy_configuration) != "$before" ]]; then
    log "kube-proxy's configuration changed; restarting its pods"
    kubectl_admin -n kube-system rollout restart daemonset kube-proxy
  fi
}

# The cluster-wide step, on the first node of a rollout: the new ClusterConfiguration and kubelet configuration,
# then kubeadm upgrade apply, which renders this node's manifests and kubelet configuration from them and upgrades
# kube-proxy and CoreDNS; then kube-proxy's configuration.
upgrade_cluster() {
  run_rollout_step snapshot snapshot_before_rollout
  run_rollout_step kubeadm-config update_kubeadm_config
  run_rollout_step kubelet-config update_kubelet_config
  run_rollout_step kubeadm-upgrade-apply kubeadm upgrade apply "v$KUBERNETES_PATCH_VERSION" --yes
  run_rollout_step kube-proxy update_kube_proxy
  run_rollout_step record-cluster-bundle record_rollout "$DESIRED_KEY"
}

# run_rollout_step NAME COMMAND...: runs a step; if it fails, the script ends and on_rollout_exit records the step.
# (Not `"$@" || ...`: errexit would be off inside the step, and a failed check in it would go unnoticed.)
run_rollout_step() {
  ROLLOUT_STEP=$1
  shift
  log "rollout step $ROLLOUT_STEP"
  "$@"
}

# The names an X.509 certificate is valid for, one per line, sorted.
certificate_names() {
  openssl x509 -noout -ext subjectAltName -in "$1" | tail -n +2 | tr ',' '\n' | sed 's/^ *//' | sort
}

# The apiserver's serving certificate, issued again when the bundle gives it other names (apiServer.certSANs):
# kubeadm upgrade renews certificates with the names they already have. kubeadm issues the candidate from the
# bundle's init.yaml as this node's `kubeadm init` would render it, in a scratch directory with the cluster CA, so it
# also holds the names every control-plane node gets (its own name and address, the service address,
# kubernetes.default...). kube-apiserver reloads its certificate files by itself: nothing restarts.
refresh_apiserver_certificate() {
  local pki="$ROOT/etc/kubernetes/pki" work="$STATE_DIR/$CERTIFICATE_SCRATCH"
  rm -rf "$work" && install -d -m 0700 "$work/pki"
  cp "$pki/ca.crt" "$pki/ca.key" "$work/pki/"
  render_init_config "$work/init.yaml"
  sed -i "/^kind: ClusterConfiguration$/a certificatesDir: $work/pki" "$work/init.yaml"
  kubeadm init phase certs apiserver --config "$work/init.yaml" >/dev/null
  if [[ $(certificate_names "$work/pki/apiserver.crt") == "$(certificate_names "$pki/apiserver.crt")" ]]; then
    rm -rf "$work"
    return 0
  fi
  log "the apiserver certificate gets the bundle's names: $(certificate_names "$work/pki/apiserver.crt" | paste -sd ' ')"
  # The key first: until the certificate follows, kube-apiserver keeps serving the pair it has.
  install -m 0600 "$work/pki/apiserver.key" "$pki/apiserver.key.next" && mv "$pki/apiserver.key.next" "$pki/apiserver.key"
  install -m 0644 "$work/pki/apiserver.crt" "$pki/apiserver.crt.next" && mv "$pki/apiserver.crt.next" "$pki/apiserver.crt"
  rm -rf "$work"
}

# kubelet, kubeadm and kubectl of the bundle's patch, when it is another one (prepare-node.sh).
install_patch() {
  [[ $(kubeadm version -o short) == "v$KUBERNETES_PATCH_VERSION" ]] && return 0
  install_kubernetes
}

wait_healthy() {
  local deadline=$((SECONDS + HEALTH_WAIT_SECONDS))
  until api_ready_here && etcd_all_healthy; do
    ((SECONDS < deadline)) || die "this node's apiserver or etcd is not healthy ${HEALTH_WAIT_SECONDS}s after its upgrade"
    sleep 5
  done
}

roll_this_node() {
  local staged="$STATE_DIR/run/rollout-bundle"
  # Until this node has rolled, the bundle it rolls from stays its record, whatever the environment says.
  [[ -f "$STATE_DIR/rolled-bundle" ]] || echo "$BUNDLE_KEY" >"$STATE_DIR/rolled-bundle"
  run_rollout_step fetch-bundle fetch_bundle_into "$staged"
  if [[ $(bundle_minor "$staged") != "$KUBERNETES_MINOR" ]]; then
    start_replacement "$staged"
    return 0
  fi
  run_rollout_step install-bundle install_bundle "$staged"
  rm -rf "$staged"
  run_rollout_step install-packages install_patch
  local cluster
  cluster=$(retry 5 cluster_rolled_bundle) || die "cannot read the cluster's rollout record"
  if [[ $cluster != "$DESIRED_KEY" ]]; then
    upgrade_cluster
  else
    run_rollout_step kubeadm-upgrade-node kubeadm upgrade node
  fi
  run_rollout_step apiserver-certificate refresh_apiserver_certificate
  run_rollout_step restart-kubelet systemctl restart kubelet
  run_rollout_step wait-healthy wait_healthy
  run_rollout_step publish-service-account-issuer publish_service_account_issuer
  echo "$DESIRED_KEY" >"$STATE_DIR/rolled-bundle"
}

# The cluster-wide step of a minor upgrade, on its first node, from the new bundle (not installed here): after the
# snapshot, the cluster's stored ClusterConfiguration and kubelet configuration, then the version control-plane nodes
# of the new minor wait for before they join.
move_cluster_to_minor() {
  local staged=$1
  run_rollout_step snapshot snapshot_before_rollout
  run_rollout_step kubeadm-config in_bundle "$staged" update_kubeadm_config
  run_rollout_step kubelet-config in_bundle "$staged" update_kubelet_config
  run_rollout_step control-plane-version in_bundle "$staged" record_control_plane_version
  run_rollout_step record-cluster-bundle record_rollout "$DESIRED_KEY"
}

record_control_plane_version() {
  echo "v$KUBERNETES_PATCH_VERSION" | ssm_put "$SSM_CONTROL_PLANE_VERSION" String
}

# The Auto Scaling group this node belongs to (one per control-plane node; they share the launch template).
own_group() {
  aws_cli autoscaling describe-auto-scaling-instances --instance-ids "$INSTANCE_ID" |
    jq -r '.AutoScalingInstances[0].AutoScalingGroupName // empty'
}

# start_replacement DIR: the next minor's bundle, unpacked into DIR. This node's group launches its successor from
# the new launch template; the node keeps the lock until it has left (continue_replacement).
start_replacement() {
  local staged=$1 minor group
  minor=$(bundle_minor "$staged")
  [[ $minor == "$(next_minor "$KUBERNETES_MINOR")" ]] ||
    die "the new bundle is for Kubernetes $minor, this node runs $KUBERNETES_MINOR: a minor changes one at a time, and never down"
  [[ $(retry 5 cluster_rolled_bundle) == "$DESIRED_KEY" ]] || move_cluster_to_minor "$staged"
  rm -rf "$staged"
  ROLLOUT_STEP=launch-successor
  group=$(retry 5 own_group) || group=""
  [[ -n $group ]] || die "cannot find this node's Auto Scaling group"
  retry 5 aws_cli autoscaling set-desired-capacity --auto-scaling-group-name "$group" --desired-capacity 2
  echo "$(date +%s) $group $minor -" >"$STATE_DIR/$REPLACEMENT_STATE"
  rollout_status rolling "$INSTANCE_ID waits for its successor on Kubernetes $minor in $group"
}

# The instance GROUP launched beside this one, if any.
successor_instance() {
  aws_cli autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$1" |
    jq -r --arg me "$INSTANCE_ID" '[.AutoScalingGroups[0].Instances[] | select(.InstanceId != $me) | .InstanceId] | first // empty'
}

# Names of the control-plane Nodes, with their kubelet version and Ready status: "<name> <version> <ready>" lines.
control_plane_nodes() {
  kubectl_admin get nodes -l node-role.kubernetes.io/control-plane -o json |
    jq -r '.items[] | [.metadata.name, .status.nodeInfo.kubeletVersion,
      ([.status.conditions[]? | select(.type == "Ready") | .status] | first // "Unknown")] | join(" ")'
}

# successor_serving INSTANCE MINOR: prints the successor's name once its Node is Ready on MINOR, its etcd member
# started, every member healthy and the API ready through the load balancer.
successor_serving() {
  local name nodes members
  [[ -n $1 ]] || return 1
  name=$(aws_cli ec2 describe-instances --filters "Name=instance-id,Values=$1" | jq -r '[.Reservations[].Instances[].PrivateDnsName] | first // empty')
  [[ -n $name ]] && nodes=$(control_plane_nodes) && members=$(etcd_member_names) || return 1
  grep -qE "^${name//./\\.} v${2//./\\.}\.[0-9]+ True$" <<<"$nodes" && grep -qxF "$name" <<<"$members" || return 1
  [[ -z $(unhealthy_reason) ]] || return 1
  echo "$name"
}

# Waits, a timer run at a time, for this node's successor; then leaves the cluster to it. The timeout runs from the
# successor's launch: a new successor (the group replaced a failed one) gets the whole of it.
continue_replacement() {
  local since group minor successor recorded name
  read -r since group minor recorded <"$STATE_DIR/$REPLACEMENT_STATE"
  if [[ ! -f "$STATE_DIR/$REPLACEMENT_STATE.leaving" ]]; then
    ROLLOUT_STEP=wait-for-successor
    successor=$(retry 5 successor_instance "$group")
    if [[ -n $successor && $successor != "$recorded" ]]; then
      since=$(date +%s)
      echo "$since $group $minor $successor" >"$STATE_DIR/$REPLACEMENT_STATE"
    fi
    if ! name=$(successor_serving "$successor" "$minor"); then
      (($(date +%s) - since < REPLACEMENT_TIMEOUT_SECONDS)) ||
        die "its successor ${successor:-(none launched)} in $group has not joined on Kubernetes $minor within ${REPLACEMENT_TIMEOUT_SECONDS}s"
      log "waiting for its successor ${successor:-(not launched yet)} in $group to join on Kubernetes $minor"
      return 0
    fi
    log "its successor $successor ($name) serves on Kubernetes $minor; leaving the cluster to it"
    touch "$STATE_DIR/$REPLACEMENT_STATE.leaving"
  fi
  run_rollout_step leave leave_cluster "$group"
}

# leave_cluster GROUP: this node's pods move first (past the drain timeout, what a disruption budget still holds
# goes with the Node); its kubelet stops so the Node stays deleted; its etcd member goes while the API still serves
# through the others; then the instance, with the group's desired capacity back to 1. Each part can run again.
leave_cluster() {
  local name ip
  name=$(retry 10 imds meta-data/local-hostname) ip=$(retry 10 imds meta-data/local-ipv4)
  kubectl_admin drain "$name" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT_SECONDS}s" ||
    log "the drain of $name did not finish within ${DRAIN_TIMEOUT_SECONDS}s; leaving anyway"
  systemctl stop kubelet
  kubectl_admin delete node "$name" --ignore-not-found
  # Its Pods at once (no kubelet will confirm their end), not when the Pod garbage collector gets to them: its
  # kube-apiserver's would hold the add-ons back until then (control_plane_on_this_minor).
  kubectl_admin delete pods --all-namespaces --field-selector "spec.nodeName=$name" --force --grace-period=0 >/dev/null 2>&1 ||
    log "cannot delete the Pods of $name; the Pod garbage collector will"
  etcd_remove_member_at "$ip" "this node's own: it leaves the cluster to its successor"
  retry 5 aws_cli autoscaling terminate-instance-in-auto-scaling-group --instance-id "$INSTANCE_ID" --should-decrement-desired-capacity >/dev/null
  ROLLOUT_STEP=""
  rollout_status rolling "$INSTANCE_ID left the cluster to its successor in $1"
  release_rollout_lock
}

# Whether every control-plane node the cluster should have runs this node's minor and is Ready: no more, no fewer
# (a node still being replaced counts twice). And every kube-apiserver Pod runs one image: kubeadm upgrade apply
# skips the add-ons, and says so only in its output, while a Pod of another runs (a departed node's, until deleted).
control_plane_on_this_minor() {
  local nodes images
  nodes=$(control_plane_nodes) || return 1
  (($(grep -c . <<<"$nodes") == CONTROL_PLANE_COUNT)) || return 1
  ! grep -qvE "^[^ ]+ v${KUBERNETES_MINOR//./\\.}\.[0-9]+ True$" <<<"$nodes" || return 1
  images=$(kubectl_admin -n kube-system get pods -l component=kube-apiserver -o jsonpath='{range .items[*]}{.spec.containers[0].image}{"\n"}{end}') || return 1
  (($(grep -c . <<<"$images") == CONTROL_PLANE_COUNT)) && (($(sort -u <<<"$images" | wc -l) == 1))
}

# The last step of a minor upgrade, on a node of the new minor once every control-plane node runs it: kubeadm
# upgrade apply moves kube-proxy and CoreDNS to the new minor (this node's components are that version already),
# then the cluster's version moves, which workers of the new minor and the add-on timer wait for.
finish_minor_upgrade_when_due() {
  local recorded
  recorded=$(recorded_version "$SSM_KUBERNETES_VERSION")
  [[ -n $recorded && $(minor_of "$recorded") != "$KUBERNETES_MINOR" ]] || return 0
  control_plane_on_this_minor || { log "the cluster runs $recorded; waiting for every control-plane node to run $KUBERNETES_MINOR" && return 0; }
  if ssm_get "$SSM_ROLLOUT_PAUSED" >/dev/null 2>&1; then return 0; fi
  take_turn "$INSTANCE_ID finishes the upgrade to $KUBERNETES_MINOR" || return 0
  run_rollout_step kubeadm-upgrade-apply kubeadm upgrade apply "v$KUBERNETES_PATCH_VERSION" --yes
  run_rollout_step kube-proxy update_kube_proxy
  run_rollout_step kubernetes-version ssm_put "$SSM_KUBERNETES_VERSION" String <<<"v$KUBERNETES_PATCH_VERSION"
  ROLLOUT_STEP=""
  rollout_status rolled "every control-plane node runs v$KUBERNETES_PATCH_VERSION; workers and the add-ons of $KUBERNETES_MINOR follow"
  release_rollout_lock
}

# take_turn MESSAGE: the lock, then the gates. The node then holds the lock, records MESSAGE as the rollout's state
# and records a failure where it stops. Fails, changing nothing, while another node has its turn or a gate fails.
take_turn() {
  local reason
  acquire_rollout_lock || return 1
  reason=$(unhealthy_reason)
  if [[ -n $reason ]]; then
    rollout_status waiting "$INSTANCE_ID waits: $reason"
    release_rollout_lock
    return 1
  fi
  trap on_rollout_exit EXIT
  rollout_status rolling "$1"
}

on_rollout_exit() {
  local status=$?
  rm -rf "${STATE_DIR:?}/$CERTIFICATE_SCRATCH"
  ((status == 0)) && return 0
  [[ -n ${ROLLOUT_STEP:-} ]] || return 0
  rollout_status failed "$INSTANCE_ID stopped at step $ROLLOUT_STEP (exit $status); it keeps the lock and retries at its next run; see its log" || true
}

main() {
  load_config
  mkdir -p "$STATE_DIR/run"
  INSTANCE_ID=$(retry 10 imds meta-data/instance-id)
  local desired status=0 paused cluster recorded
  desired=$(ssm_get "$SSM_ROLLOUT_BUNDLE") || status=$?
  ((status != 3)) || return 0
  ((status == 0)) || die "cannot read $SSM_ROLLOUT_BUNDLE"
  read -r DESIRED_KEY DESIRED_SHA256 <<<"$desired"
  annotate_node_bundle
  if [[ -f "$STATE_DIR/$REPLACEMENT_STATE" ]]; then
    # Being replaced: the node holds the lock until it has left, paused or not.
    trap on_rollout_exit EXIT
    continue_replacement
    return 0
  fi
  if [[ $(rolled_bundle) == "$DESIRED_KEY" ]]; then
    # Up to date, unless this node joined before the cluster's configuration came from its bundle. Without the API
    # that cannot be known; the next run looks again.
    cluster=$(cluster_rolled_bundle) || { log "cannot read the cluster's rollout record; looking again at the next run" && return 0; }
    if [[ $cluster == "$DESIRED_KEY" ]]; then
      if with_rollout_lock holds_lock; then release_rollout_lock; fi
      finish_minor_upgrade_when_due
      return 0
    fi
  fi
  # A successor of a minor upgrade rolls nothing in place until the upgrade has finished (the cluster's version moves
  # then): a cluster-wide step of its own would move kube-proxy and CoreDNS before the last old node has gone.
  recorded=$(recorded_version "$SSM_KUBERNETES_VERSION")
  if [[ -n $recorded && $(minor_of "$recorded") != "$KUBERNETES_MINOR" ]]; then
    log "the cluster runs $recorded; this $KUBERNETES_MINOR node waits for the minor upgrade to finish before it rolls to $DESIRED_KEY"
    return 0
  fi
  if paused=$(ssm_get "$SSM_ROLLOUT_PAUSED" 2>/dev/null); then
    log "the rollout is paused ($SSM_ROLLOUT_PAUSED: $paused); this node stays on $(rolled_bundle)"
    return 0
  fi
  take_turn "$INSTANCE_ID is rolling to $DESIRED_KEY" || return 0
  roll_this_node
  [[ ! -f "$STATE_DIR/$REPLACEMENT_STATE" ]] || return 0
  ROLLOUT_STEP=""
  rollout_status rolled "$INSTANCE_ID runs $DESIRED_KEY"
  annotate_node_bundle
  release_rollout_lock
}

# Sourced by tests for its functions; run by its timer otherwise.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
