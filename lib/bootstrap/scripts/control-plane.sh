#!/usr/bin/env bash
# Bootstraps a control-plane node: prepares it, elects the node that runs
# `kubeadm init`, and joins every other node with `kubeadm join --control-plane`
# using CA material from Secrets Manager. Idempotent: a rerun skips finished
# steps. On failure the instance marks itself unhealthy, so its Auto Scaling
# group replaces it.
set -Eeuo pipefail
SCRIPT_NAME=control-plane
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=prepare-node.sh
. "$HERE/prepare-node.sh"
# shellcheck source=init-lock.sh
. "$HERE/init-lock.sh"
# shellcheck source=etcd.sh
. "$HERE/etcd.sh"
# shellcheck source=etcd-members.sh
. "$HERE/etcd-members.sh"

PKI_FILES=(ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key)

on_exit() {
  local status=$?
  ((status == 0)) && return 0
  log "bootstrap failed in step ${CURRENT_STEP:-(none)} with exit $status"
  report_unhealthy
}

# The cluster is initialized once its PKI is in Secrets Manager: the init
# node stores it last. When restoring, the PKI survives from the lost cluster,
# so only a PKI stored by this restore counts. Exit 3 means not yet.
cluster_initialized() {
  local pki
  pki=$(secret_get "$SECRET_PKI") || return $?
  [[ -z $RESTORE_FROM || $(jq -r '.restoredFrom // ""' <<<"$pki") == "$RESTORE_FROM" ]] || return 3
}

# Prints "init" if this node must create the cluster, "join" otherwise.
elect() {
  local deadline=$((SECONDS + CLUSTER_WAIT_SECONDS)) status holder
  while :; do
    status=0
    cluster_initialized || status=$?
    if ((status == 0)); then echo join && return 0; fi
    if ((status == 3)); then
      if try_create_lock || holds_lock; then echo init && return 0; fi
      # shellcheck disable=SC2086 # holder is "<id> <epoch> <version>"
      if holder=$(lock_holder) && try_take_over_lock $holder; then echo init && return 0; fi
    fi
    ((SECONDS < deadline)) || die "the cluster was not initialized within ${CLUSTER_WAIT_SECONDS}s"
    sleep "$POLL_SECONDS"
  done
}

public_api_host() {
  [[ -n $PUBLIC_LB_NAME ]] || return 0
  retry 8 aws_cli elbv2 describe-load-balancers --names "$PUBLIC_LB_NAME" | jq -r '.LoadBalancers[0].DNSName'
}

# Until this node's apiserver is up, the endpoint name resolves to this node,
# so `kubeadm init` does not wait for the load balancer.
pin_endpoint_to_self() {
  local ip
  ip=$(retry 10 imds meta-data/local-ipv4)
  echo "$ip $API_ENDPOINT_HOST # kubeadm-aws-init" >>"$ROOT/etc/hosts"
}

unpin_endpoint() {
  sed -i '/# kubeadm-aws-init$/d' "$ROOT/etc/hosts"
}

write_encryption_config() {
  [[ $ENCRYPTION_AT_REST == true ]] || return 0
  local key
  key=$(head -c 32 /dev/urandom | base64)
  write_private "$ROOT$ENCRYPTION_CONFIG" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - secretbox:
          keys:
            - name: key1
              secret: $key
      - identity: {}
YAML
}

# Before kubeadm init, when restoring: the surviving PKI and encryption key go
# back in place (so existing tokens, kubeconfigs and encrypted Secrets stay
# valid) and the snapshot becomes this node's etcd data, as a new one-member
# cluster that the other nodes then join.
restore_from_snapshot() {
  local name ip snapshot="$STATE_DIR/run/restore.db"
  log "restoring etcd from $RESTORE_FROM"
  write_pki_files
  retry 5 s3_get "$RESTORE_FROM" "$snapshot"
  name=$(retry 10 imds meta-data/local-hostname)
  ip=$(retry 10 imds meta-data/local-ipv4)
  ETCD_IMAGE=$(kubeadm config images list --kubernetes-version "$KUBERNETES_VERSION" | grep '/etcd:')
  export ETCD_IMAGE
  etcd_restore_data "$snapshot" "$name" "https://$ip:2380" "$name=https://$ip:2380" "restore-$(basename "$RESTORE_FROM" .db)" "$ROOT/var/lib/etcd"
  rm -f "$snapshot"
}

kubeadm_init() {
  reset_partial_kubeadm
  export JOIN_TOKEN KUBERNETES_VERSION PUBLIC_API_HOST SERVICE_ACCOUNT_ISSUER CA_CERT_HASH=""
  JOIN_TOKEN=$(kubeadm token generate)
  KUBERNETES_VERSION=$(kubeadm version -o short)
  PUBLIC_API_HOST=$(public_api_host)
  SERVICE_ACCOUNT_ISSUER=$(service_account_issuer)
  local preflight=()
  if [[ -n $RESTORE_FROM ]]; then
    restore_from_snapshot
    preflight=(--ignore-preflight-errors=DirAvailable--var-lib-etcd)
  else
    write_encryption_config
  fi
  render_template "$ROOT$KUBEADM_DIR/init.yaml" "$STATE_DIR/run/init.yaml"
  # Kept until publish_join_credentials, which runs last, after a reboot too.
  printf '%s' "$JOIN_TOKEN" | write_private "$STATE_DIR/run/join-token"
  pin_endpoint_to_self
  local status=0
  # --skip-token-print: the token would reach the journal, the console and the bootstrap log.
  kubeadm init --config "$STATE_DIR/run/init.yaml" --skip-token-print "${preflight[@]}" || status=$?
  rm -f "$STATE_DIR/run/init.yaml"
  unpin_endpoint
  return "$status"
}

ca_cert_hash() {
  openssl x509 -pubkey -noout -in "$ROOT/etc/kubernetes/pki/ca.crt" |
    openssl pkey -pubin -outform der | sha256sum | awk '{print "sha256:" $1}'
}

# Removes kubeadm's approval of every bootstrap client request and starts the
# service that approves only this cluster's new instances (approve-node-certificates.sh).
approve_node_certificates() {
  retry 5 kubectl --kubeconfig "$ROOT/etc/kubernetes/admin.conf" delete clusterrolebinding "$AUTOAPPROVE_BOOTSTRAP_BINDING" --ignore-not-found >/dev/null
  systemctl enable --now kubeadm-aws-approve-node-certificates.service
}

# The service-account issuer AWS IAM trusts (workloadIdentity): the HTTPS endpoint of the issuer's bucket, as
# lib/identity/service-account-issuer.ts names it. Empty when workload identity is off.
service_account_issuer() {
  [[ ${WORKLOAD_IDENTITY:-false} == true ]] || return 0
  local suffix=amazonaws.com
  [[ $AWS_REGION != cn-* ]] || suffix=amazonaws.com.cn
  printf 'https://%s.s3.%s.%s\n' "$(cluster_bucket oidc)" "$AWS_REGION" "$suffix"
}

# The service-account issuer's discovery document and public keys, as this node's apiserver serves them, in the
# bucket AWS IAM reads them from (workloadIdentity). Every control-plane node publishes them when it joins and when
# it has rolled, so a replaced node, a cluster that turns workload identity on, or a key an operator added reaches
# IAM. This node's own apiserver, not the load balancer's pick: during a rollout the others may not sign as it yet.
publish_service_account_issuer() {
  local issuer bucket account dir="$STATE_DIR/run/issuer" path file
  issuer=$(service_account_issuer)
  [[ -n $issuer ]] || return 0
  account=$(retry 10 account_id)
  bucket=$(cluster_bucket oidc)
  mkdir -p "$dir"
  for path in .well-known/openid-configuration openid/v1/jwks; do
    file="$dir/${path##*/}"
    retry 10 kubectl --kubeconfig "$ROOT/etc/kubernetes/admin.conf" --server https://127.0.0.1:6443 get --raw "/$path" >"$file"
    jq -e . "$file" >/dev/null || die "the apiserver served no JSON at /$path"
  done
  # The apiserver must sign as the issuer IAM trusts, and name the keys where they are published.
  jq -e --arg issuer "$issuer" '.issuer == $issuer and .jwks_uri == "\($issuer)/openid/v1/jwks"' "$dir/openid-configuration" >/dev/null ||
    die "the apiserver's discovery document names issuer $(jq -c '[.issuer, .jwks_uri]' "$dir/openid-configuration"), not $issuer"
  for path in .well-known/openid-configuration openid/v1/jwks; do
    # The node derives the bucket's name: a bucket of that name in another account must not get the keys' place.
    retry 5 aws_cli s3api put-object --expected-bucket-owner "$account" --bucket "$bucket" --key "$path" --body "$dir/${path##*/}" \
      --content-type application/json >/dev/null
  done
  log "published the service-account issuer's documents to s3://$bucket"
  rm -rf "$dir"
}

# The CA hash goes last: its presence tells joining nodes the credentials are complete.
publish_join_credentials() {
  ssm_put "$SSM_JOIN_TOKEN" SecureString <"$STATE_DIR/run/join-token"
  kubeadm version -o short | ssm_put "$SSM_CONTROL_PLANE_VERSION" String
  kubeadm version -o short | ssm_put "$SSM_KUBERNETES_VERSION" String
  ca_cert_hash | ssm_put "$SSM_CA_CERT_HASH" SecureString
  rm -f "$STATE_DIR/run/join-token"
}

# Stores the CA material, the encryption key and the admin kubeconfig. The PKI
# goes last: its presence tells the other nodes the cluster is initialized.
store_cluster_secrets() {
  local pki="$ROOT/etc/kubernetes/pki" args=() file
  for file in "${PKI_FILES[@]}"; do args+=(--rawfile "$file" "$pki/$file"); done
  [[ $ENCRYPTION_AT_REST == true ]] && args+=(--rawfile encryption-config.yaml "$ROOT$ENCRYPTION_CONFIG")
  jq -n "${args[@]}" --arg kubernetesVersion "$(kubeadm version -o short)" --arg initializedBy "$INSTANCE_ID" \
    --arg restoredFrom "$RESTORE_FROM" '$ARGS.named' | write_private "$STATE_DIR/run/pki.json"
  secret_put "$SECRET_ADMIN_KUBECONFIG" "$ROOT/etc/kubernetes/admin.conf"
  secret_put "$SECRET_PKI" "$STATE_DIR/run/pki.json"
  rm -f "$STATE_DIR/run/pki.json"
}

# The CA material and encryption key from Secrets Manager, where kubeadm expects
# them, byte for byte (jq -j: no newline added).
write_pki_files() {
  local pki="$ROOT/etc/kubernetes/pki" file
  secret_get "$SECRET_PKI" | write_private "$STATE_DIR/run/pki.json"
  for file in "${PKI_FILES[@]}"; do
    jq -j --arg f "$file" '.[$f]' "$STATE_DIR/run/pki.json" | write_private "$pki/$file"
  done
  if [[ $ENCRYPTION_AT_REST == true ]]; then
    jq -j '.["encryption-config.yaml"]' "$STATE_DIR/run/pki.json" | write_private "$ROOT$ENCRYPTION_CONFIG"
  fi
  rm -f "$STATE_DIR/run/pki.json"
}

# The PKI is fetched inside the join step, after any reset of a partial run:
# `kubeadm reset` deletes /etc/kubernetes/pki, so a reboot in the middle of a
# join must not rely on files an earlier step wrote. The reset deletes this
# node's etcd data too, so an etcd member the interrupted join added goes.
join_control_plane() {
  wait_for_join_credentials
  if kubeadm_ran_partly; then
    reset_partial_kubeadm
    etcd_remove_member_at "$(retry 10 imds meta-data/local-ipv4)"
  fi
  write_pki_files
  join_with_published_credentials
}

# record_rollout [BUNDLE_KEY]: records the bundle whose ClusterConfiguration the cluster runs (this node's, at
# init), which roll-control-plane.sh compares with the bundle Terraform last planned.
record_rollout() {
  local record="$STATE_DIR/run/rollout-record.yaml"
  kubectl --kubeconfig "$ROOT/etc/kubernetes/admin.conf" -n kube-system create configmap kubeadm-aws-rollout \
    --from-literal=bundle="${1:-$BUNDLE_KEY}" --dry-run=client -o yaml >"$record"
  retry 5 apply_from_file "$record" >/dev/null
  rm -f "$record"
}

# apply_from_file FILE: kubectl apply of a file, which retries can read again.
apply_from_file() {
  kubectl --kubeconfig "$ROOT/etc/kubernetes/admin.conf" apply -f - <"$1"
}

# The first node applies the add-ons (CNI and cloud controller manager first).
# They come from the internet: a failure must not throw the cluster away, so
# it is logged and left to the add-on timer, which applies them within minutes.
apply_addons() {
  if ! KUBECONFIG="$ROOT/etc/kubernetes/admin.conf" "$HERE/apply-addons.sh" --force; then
    log "the first add-on apply failed; the add-on timer (kubeadm-aws-addons.timer) applies them later"
  fi
}

# Order matters. Node certificate approval first: kubeadm's blanket approval
# of bootstrap requests goes before any token is published, and the service
# that approves new instances instead runs before anyone can join. The PKI
# next: once stored, the cluster is initialized and no other node will run
# kubeadm init with a new CA. The join credentials right after, so they are
# published only for a CA that can no longer change, and within seconds of
# init: a first node lost later leaves joinable credentials behind. The add-ons
# last: nodes may join before the CNI is up (they wait NotReady), and a slow
# download delays nobody.
init_cluster() {
  run_step kubeadm-init kubeadm_init
  run_step rollout-record record_rollout
  run_step node-certificate-approval approve_node_certificates
  run_step store-cluster-secrets store_cluster_secrets
  run_step publish-service-account-issuer publish_service_account_issuer
  run_step publish-join-credentials publish_join_credentials
  run_step apply-addons apply_addons
}

# The version the cluster's stored ClusterConfiguration names (kubeadm join renders this node's static pods from it),
# or the cluster's version when no node recorded it separately (a cluster created before minor upgrades).
control_plane_version() {
  local version
  version=$(recorded_version "$SSM_CONTROL_PLANE_VERSION")
  [[ -n $version ]] || version=$(recorded_version "$SSM_KUBERNETES_VERSION")
  echo "$version"
}

# A node of the next minor (a minor upgrade, README "Upgrading") joins only once the rollout's first node has moved
# the cluster's configuration to its minor: until then kubeadm would render it the old minor's components. It waits
# after removing dead members: a dead member would stop that rollout at its etcd health gate.
wait_for_cluster_configuration_minor() {
  local deadline=$((SECONDS + REPLACEMENT_TIMEOUT_SECONDS)) version
  while :; do
    version=$(control_plane_version)
    [[ -z $version || $(minor_of "$version") == "$KUBERNETES_MINOR" ]] && return 0
    ((SECONDS < deadline)) ||
      die "the cluster's configuration still names $version ${REPLACEMENT_TIMEOUT_SECONDS}s later; this $KUBERNETES_MINOR node cannot join before its rollout moves it"
    log "waiting for the rollout to move the cluster's configuration from $version to $KUBERNETES_MINOR"
    sleep "$POLL_SECONDS"
  done
}

join_cluster() {
  run_step remove-dead-etcd-members etcd_remove_dead_members
  run_step cluster-configuration-minor wait_for_cluster_configuration_minor
  run_step kubeadm-join join_control_plane
  run_step publish-service-account-issuer publish_service_account_issuer
}

main() {
  begin_bootstrap
  prepare_host control-plane
  run_step install-kubernetes install_kubernetes
  local role=""
  [[ -f "$STATE_DIR/role" ]] && role=$(<"$STATE_DIR/role")
  if [[ -z $role ]]; then
    role=$(elect)
    echo "$role" >"$STATE_DIR/role"
  fi
  log "role: $role"
  if [[ $role == init ]]; then init_cluster; else join_cluster; fi
  run_step restrict-kubernetes-files restrict_kubernetes_files
  run_step join-token-rotation systemctl enable --now kubeadm-aws-join-token.timer
  run_step addon-timer systemctl enable --now kubeadm-aws-addons.timer kubeadm-aws-approve-node-certificates.service
  run_step certificate-renewal systemctl enable --now kubeadm-aws-admin-kubeconfig.timer kubeadm-aws-certificates.timer
  run_step rollout-timer systemctl enable --now kubeadm-aws-rollout.timer
  if [[ $BACKUP_ENABLED == true ]]; then
    run_step etcd-backups systemctl enable --now kubeadm-aws-etcd-backup.timer
  fi
  if [[ $METRICS_ENABLED == true ]]; then
    run_step metrics systemctl enable --now kubeadm-aws-metrics.timer
  fi
  log "control-plane node is ready"
}

# Sourced by tests for its steps; run by the bootstrap unit otherwise.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
