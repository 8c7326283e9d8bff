#!/usr/bin/env bash
# Approves or denies the certificate requests of nodes that nothing else may
# approve, after checking them against EC2. Runs as a service on every
# control-plane node; approving twice is harmless.
#
# - A kubelet's first client certificate (signer kube-apiserver-client-kubelet,
#   asked with a bootstrap token). kubeadm would let the controller manager
#   approve any node name for anyone holding the join token; that binding
#   (kubeadm:node-autoapprove-bootstrap) is removed, so a foothold that reads
#   the token cannot become a control-plane node. A request is approved only
#   for a node name that is the private DNS name of a running instance of this
#   cluster, launched within NODE_CLIENT_MAX_INSTANCE_AGE_SECONDS, with no Node
#   object yet. Renewals by the node itself stay with the controller manager.
# - Kubelet serving certificates (signer kubelet-serving), which the controller
#   manager never approves: only if a node asks for its own name and the names
#   and addresses of the EC2 instance behind it.
# Any other request of these signers is denied, with the reason.
set -Eeuo pipefail
SCRIPT_NAME=approve-node-certificates
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# Private DNS name, then private IPs, of this cluster's instance with that private DNS name.
instance_addresses() {
  aws_cli ec2 describe-instances --filters "Name=private-dns-name,Values=$1" "Name=tag:$CLUSTER_TAG_KEY,Values=owned" \
    "Name=instance-state-name,Values=pending,running" |
    jq -r '.Reservations[].Instances[] | .PrivateDnsName, .PrivateIpAddress, (.NetworkInterfaces // [] | .[].PrivateIpAddresses // [] | .[].PrivateIpAddress)' | sort -u
}

# Launch time of this cluster's running instance with that private DNS name; empty if there is none.
instance_launch_time() {
  aws_cli ec2 describe-instances --filters "Name=private-dns-name,Values=$1" "Name=tag:$CLUSTER_TAG_KEY,Values=owned" \
    "Name=instance-state-name,Values=pending,running" | jq -r '.Reservations[].Instances[].LaunchTime' | head -1
}

# csr_subject CSR_FILE: the subject, as "CN=...,O=..." (RFC 2253).
csr_subject() {
  openssl req -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'
}

# node_client_verdict CSR_FILE USERNAME: for a kubelet's first client certificate, prints
# "approve", "deny <reason>", or "wait <reason>" when the API cannot tell yet.
node_client_verdict() {
  local csr=$1 user=$2 subject node text launched age out
  if [[ $user != system:bootstrap:* ]]; then echo "deny requested by $user, not with a bootstrap token" && return; fi
  subject=$(csr_subject "$csr")
  if [[ $subject =~ ^CN=system:node:([a-z0-9.-]+),O=system:nodes$ || $subject =~ ^O=system:nodes,CN=system:node:([a-z0-9.-]+)$ ]]; then
    node=${BASH_REMATCH[1]}
  else
    echo "deny subject $subject is not a node's" && return
  fi
  text=$(openssl req -in "$csr" -noout -text)
  if grep -q 'Subject Alternative Name' <<<"$text"; then echo "deny a client certificate names no hosts or addresses" && return; fi
  launched=$(instance_launch_time "$node") || { echo "wait cannot read EC2 for $node" && return; }
  if [[ -z $launched || $launched == null ]]; then echo "deny no running instance of this cluster is named $node" && return; fi
  age=$(($(date +%s) - $(date -d "$launched" +%s)))
  if ((age > NODE_CLIENT_MAX_INSTANCE_AGE_SECONDS)); then
    echo "deny instance $node was launched ${age}s ago; only instances launched within ${NODE_CLIENT_MAX_INSTANCE_AGE_SECONDS}s may join" && return
  fi
  if out=$(kubectl get node "$node" -o name 2>&1); then echo "deny node $node is registered already" && return; fi
  if ! grep -q NotFound <<<"$out"; then echo "wait cannot tell whether node $node is registered: $out" && return; fi
  echo approve
}

# csr_verdict CSR_FILE USERNAME: for a kubelet serving certificate, prints "approve", "deny <reason>",
# or "wait <reason>" when EC2 cannot be read.
csr_verdict() {
  local csr=$1 user=$2 node subject sans san value addresses
  if [[ $user != system:node:* ]]; then echo "deny requested by $user, not by a node" && return; fi
  node=${user#system:node:}
  subject=$(csr_subject "$csr")
  if [[ $subject != "CN=system:node:$node,O=system:nodes" && $subject != "O=system:nodes,CN=system:node:$node" ]]; then
    echo "deny subject $subject is not node $node's" && return
  fi
  sans=$(openssl req -in "$csr" -noout -text | sed -n '/Subject Alternative Name/{n;p}' | tr ',' '\n' | sed 's/^ *//')
  if [[ -z $sans ]]; then echo "deny no names or addresses requested" && return; fi
  addresses=$(instance_addresses "$node") || { echo "wait cannot read EC2 for $node" && return; }
  if [[ -z $addresses ]]; then echo "deny no running instance of this cluster is named $node" && return; fi
  while read -r san; do
    value=${san#*:}
    case $san in
      DNS:*) [[ $value == "$node" ]] || { echo "deny name $value is not the node's ($node)" && return; } ;;
      "IP Address:"*) grep -qxF "$value" <<<"$addresses" || { echo "deny address $value is not an address of instance $node" && return; } ;;
      *) echo "deny unexpected subject alternative name $san" && return ;;
    esac
  done <<<"$sans"
  echo approve
}

# The requests nobody has decided on, of the two signers this service decides for.
pending_requests() {
  kubectl get csr -o json | jq -c '.items[] | select(((.status.conditions // []) | length) == 0)
    | select(.spec.signerName == "kubernetes.io/kubelet-serving"
      or (.spec.signerName == "kubernetes.io/kube-apiserver-client-kubelet" and (.spec.username | startswith("system:bootstrap:"))))'
}

review_pending() {
  local csrs name user signer verdict file="$STATE_DIR/run/csr.pem"
  csrs=$(pending_requests)
  while read -r item; do
    [[ -n $item ]] || continue
    name=$(jq -r .metadata.name <<<"$item")
    user=$(jq -r .spec.username <<<"$item")
    signer=$(jq -r .spec.signerName <<<"$item")
    jq -r .spec.request <<<"$item" | base64 -d >"$file"
    if [[ $signer == kubernetes.io/kubelet-serving ]]; then verdict=$(csr_verdict "$file" "$user"); else verdict=$(node_client_verdict "$file" "$user"); fi
    # Only a verdict decides; a check that failed half-way leaves the request for the next round.
    case $verdict in
      approve) kubectl certificate approve "$name" >/dev/null && log "approved $name ($signer) for $user" ;;
      "deny "*) kubectl certificate deny "$name" >/dev/null && log "denied $name ($signer) for $user: ${verdict#deny }" ;;
      *) log "left $name for $user pending: ${verdict#wait }" ;;
    esac
  done <<<"$csrs"
}

# kubeadm lets the controller manager approve every bootstrap client request; this service decides them instead.
# kubeadm creates the binding again when it upgrades the control plane, so every round removes it.
remove_bootstrap_autoapproval() {
  if kubectl get clusterrolebinding "$AUTOAPPROVE_BOOTSTRAP_BINDING" -o name >/dev/null 2>&1; then
    kubectl delete clusterrolebinding "$AUTOAPPROVE_BOOTSTRAP_BINDING" >/dev/null && log "removed $AUTOAPPROVE_BOOTSTRAP_BINDING: bootstrap client requests are this service's to decide"
  fi
}

main() {
  load_config
  export KUBECONFIG="${KUBECONFIG:-$ROOT/etc/kubernetes/admin.conf}"
  mkdir -p "$STATE_DIR/run"
  while :; do
    remove_bootstrap_autoapproval || log "removing $AUTOAPPROVE_BOOTSTRAP_BINDING failed; retrying"
    review_pending || log "reviewing certificate requests failed; retrying"
    [[ ${1:-} == --once ]] && return 0
    sleep 15
  done
}

# Sourced by tests for its verdicts; run as a service otherwise.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
