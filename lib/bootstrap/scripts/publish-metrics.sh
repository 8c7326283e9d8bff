#!/usr/bin/env bash
# Publishes what CloudWatch cannot see from outside a control-plane node, every
# few minutes (a systemd timer):
#   CertificateDaysLeft   days until the first kubeadm-managed certificate
#                         (in /etc/kubernetes/pki, the kubeconfigs, and the
#                         admin kubeconfig kept in Secrets Manager) expires;
#   MemoryUsedPercent     of this node;
#   EtcdDbSizeBytes       of this node's etcd member;
#   EtcdLeaderChanges     leader changes this member saw since the last run.
set -Eeuo pipefail
SCRIPT_NAME=publish-metrics
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=etcd.sh
. "$HERE/etcd.sh"

KUBECONFIGS=(admin.conf super-admin.conf controller-manager.conf scheduler.conf)

# Days left of the certificate that expires first; kubelet certificates rotate by themselves and are left out.
certificate_days_left() {
  local dir="$ROOT/etc/kubernetes" now min="" cert end days conf stored
  now=$(date +%s)
  {
    find "$dir/pki" -name '*.crt' -exec cat {} +
    for conf in "${KUBECONFIGS[@]}"; do
      if [[ -f "$dir/$conf" ]]; then sed -n 's/^ *client-certificate-data: *//p' "$dir/$conf" | base64 -d; fi
    done
    # The stored copy operators use; renew-admin-kubeconfig.sh keeps it fresh, this watches that it does.
    if stored=$(secret_get "$SECRET_ADMIN_KUBECONFIG"); then
      sed -n 's/^ *client-certificate-data: *//p' <<<"$stored" | base64 -d
    else
      log "cannot read the stored admin kubeconfig; its certificate is left out of CertificateDaysLeft"
    fi
  } | awk '/-----BEGIN CERTIFICATE-----/{n++} {print > (dir "/cert-" n ".pem")}' dir="$STATE_DIR/run/certs"
  for cert in "$STATE_DIR"/run/certs/cert-*.pem; do
    [[ -f $cert ]] || continue
    end=$(openssl x509 -enddate -noout -in "$cert" | cut -d= -f2)
    days=$((($(date -d "$end" +%s) - now) / 86400))
    if [[ -z $min ]] || ((days < min)); then min=$days; fi
  done
  rm -rf "$STATE_DIR/run/certs"
  echo "${min:?no certificates found under $dir}"
}

memory_used_percent() {
  awk '/^MemTotal:/{t=$2} /^MemAvailable:/{a=$2} END{printf "%.1f", (t-a)*100/t}' "$ROOT/proc/meminfo"
}

etcd_db_size() {
  etcdctl_here endpoint status -w fields | sed -n 's/^"DBSize" : //p'
}

# Leader changes since the last run, from the member's own counter.
etcd_leader_changes() {
  local total previous file="$STATE_DIR/etcd-leader-changes"
  total=$(curl -fsS "$ETCD_METRICS_URL" | awk '/^etcd_server_leader_changes_seen_total /{print int($2)}')
  previous=$(cat "$file" 2>/dev/null || echo "$total")
  echo "$total" >"$file"
  echo $((total >= previous ? total - previous : total))
}

main() {
  load_config
  mkdir -p "$STATE_DIR/run/certs"
  local instance days memory size changes cluster="Name=ClusterName,Value=$CLUSTER_NAME"
  instance=$(retry 5 imds meta-data/instance-id)
  days=$(certificate_days_left)
  memory=$(memory_used_percent)
  size=$(etcd_db_size)
  changes=$(etcd_leader_changes)
  retry 3 aws_cli cloudwatch put-metric-data --namespace "$CONTROL_PLANE_METRIC_NAMESPACE" --metric-data \
    "MetricName=CertificateDaysLeft,Value=$days,Unit=Count,Dimensions=[{$cluster}]" \
    "MetricName=MemoryUsedPercent,Value=$memory,Unit=Percent,Dimensions=[{$cluster},{Name=InstanceId,Value=$instance}]"
  retry 3 aws_cli cloudwatch put-metric-data --namespace "$METRIC_NAMESPACE" --metric-data \
    "MetricName=EtcdDbSizeBytes,Value=$size,Unit=Bytes,Dimensions=[{$cluster}]" \
    "MetricName=EtcdLeaderChanges,Value=$changes,Unit=Count,Dimensions=[{$cluster}]"
  log "certificates: ${days} days left; memory ${memory}%; etcd ${size} bytes, ${changes} leader changes"
}

main "$@"
