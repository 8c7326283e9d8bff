#!/usr/bin/env bash
# Approves kubelet serving certificate requests (signer
# kubernetes.io/kubelet-serving), which the controller manager leaves pending:
# kubelets request them (serverTLSBootstrap) so that metrics-server and the
# apiserver can verify kubelets against the cluster CA. A request is approved
# only if it comes from a node, its subject is that node's, and every name and
# address it asks for belongs to the EC2 instance behind the node; otherwise it
# is denied, with the reason. Runs as a service on every control-plane node;
# approving twice is harmless.
set -Eeuo pipefail
SCRIPT_NAME=approve-kubelet-serving
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

# Private DNS name, then private IPs, of this cluster's instance with that private DNS name.
instance_addresses() {
  aws_cli ec2 describe-instances --filters "Name=private-dns-name,Values=$1" "Name=tag:$CLUSTER_TAG_KEY,Values=owned" \
    "Name=instance-state-name,Values=pending,running" |
    jq -r '.Reservations[].Instances[] | .PrivateDnsName, .PrivateIpAddress, (.NetworkInterfaces // [] | .[].PrivateIpAddresses // [] | .[].PrivateIpAddress)' | sort -u
}

# csr_verdict CSR_FILE USERNAME: prints "approve", or "deny <reason>".
csr_verdict() {
  local csr=$1 user=$2 node subject sans san value addresses
  if [[ $user != system:node:* ]]; then echo "deny requested by $user, not by a node" && return; fi
  node=${user#system:node:}
  subject=$(openssl req -in "$csr" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
  if [[ $subject != "CN=system:node:$node,O=system:nodes" && $subject != "O=system:nodes,CN=system:node:$node" ]]; then
    echo "deny subject $subject is not node $node's" && return
  fi
  sans=$(openssl req -in "$csr" -noout -text | sed -n '/Subject Alternative Name/{n;p}' | tr ',' '\n' | sed 's/^ *//')
  if [[ -z $sans ]]; then echo "deny no names or addresses requested" && return; fi
  addresses=$(instance_addresses "$node")
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

review_pending() {
  local csrs name user verdict file="$STATE_DIR/run/csr.pem"
  csrs=$(kubectl get csr -o json | jq -c '.items[] | select(.spec.signerName == "kubernetes.io/kubelet-serving" and ((.status.conditions // []) | length) == 0)')
  while read -r item; do
    [[ -n $item ]] || continue
    name=$(jq -r .metadata.name <<<"$item")
    user=$(jq -r .spec.username <<<"$item")
    jq -r .spec.request <<<"$item" | base64 -d >"$file"
    verdict=$(csr_verdict "$file" "$user")
    if [[ $verdict == approve ]]; then
      kubectl certificate approve "$name" >/dev/null && log "approved $name for $user"
    else
      kubectl certificate deny "$name" >/dev/null && log "denied $name for $user: ${verdict#deny }"
    fi
  done <<<"$csrs"
}

main() {
  load_config
  export KUBECONFIG="${KUBECONFIG:-$ROOT/etc/kubernetes/admin.conf}"
  mkdir -p "$STATE_DIR/run"
  while :; do
    review_pending || log "reviewing certificate requests failed; retrying"
    [[ ${1:-} == --once ]] && return 0
    sleep 15
  done
}

# Sourced by tests for csr_verdict; run as a service otherwise.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
