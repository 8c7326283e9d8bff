#!/usr/bin/env bash
# Applies the cluster's add-on specification: the JSON the plan showed, kept in
# the node-artifacts bucket. A timer runs this on every control-plane node;
# only the holder of the Lease kube-system/kubeadm-aws-addons applies, and only
# when the specification's sha256 differs from the one applied last (recorded
# in the ConfigMap kube-system/kubeadm-aws-addons). --force applies anyway
# (the first node, at init), and so does a serving certificate due for renewal.
# Each add-on is a kustomization folder; downloads are checked by sha256 and a
# mismatch aborts; Helm charts are rendered first.
set -Eeuo pipefail
SCRIPT_NAME=apply-addons
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

LEASE=kubeadm-aws-addons
LEASE_SECONDS=300

now() { date -u +%Y-%m-%dT%H:%M:%S.000000Z; }

# Takes or renews the Lease. Creating is atomic; taking over an expired lease
# replaces it at the resourceVersion read, so of two nodes only one succeeds.
acquire_lease() {
  local me=$1 lease holder renewed
  if ! lease=$(kubectl -n kube-system get lease "$LEASE" -o json 2>/dev/null); then
    if jq -n --arg me "$me" --arg now "$(now)" --argjson s "$LEASE_SECONDS" '{apiVersion: "coordination.k8s.io/v1", kind: "Lease",
      metadata: {name: "kubeadm-aws-addons", namespace: "kube-system"},
      spec: {holderIdentity: $me, leaseDurationSeconds: $s, acquireTime: $now, renewTime: $now}}' |
      kubectl create -f - >/dev/null 2>&1; then
      return 0
    fi
    # Another node created it first.
    lease=$(kubectl -n kube-system get lease "$LEASE" -o json) || return 1
  fi
  holder=$(jq -r '.spec.holderIdentity // ""' <<<"$lease")
  renewed=$(jq -r '.spec.renewTime // "1970-01-01T00:00:00Z"' <<<"$lease")
  if [[ $holder != "$me" ]] && (($(date +%s) - $(date -d "$renewed" +%s) < LEASE_SECONDS)); then
    log "lease held by $holder"
    return 1
  fi
  jq --arg me "$me" --arg now "$(now)" '.spec.holderIdentity = $me | .spec.renewTime = $now' <<<"$lease" |
    kubectl replace -f - >/dev/null 2>&1 || { log "lease taken over by another node" && return 1; }
}

download_sources() {
  local dir=$1 sha url file
  [[ -f "$dir/sources.tsv" ]] || return 0
  while read -r sha url file; do
    [[ -n $sha && $sha != \#* ]] || continue
    echo "$sha  $dir/$file" | sha256sum --check --status 2>/dev/null && continue
    # The node is online by now: a download that fails for two minutes fails this run; the timer tries again.
    INTERNET_WAIT_SECONDS=120 download_verified "$url" "$sha" "$dir/$file" || die "refusing to apply $(basename "$dir")"
  done <"$dir/sources.tsv"
}

# helm template the add-on's chart with its values, using the downloaded Helm.
render_helm() {
  local dir=$1 chart helm release namespace
  [[ -f "$dir/helm.json" ]] || return 0
  chart=$(jq -r .chart "$dir/helm.json") helm=$(jq -r .helm "$dir/helm.json")
  release=$(jq -r .release "$dir/helm.json") namespace=$(jq -r .namespace "$dir/helm.json")
  tar -xzf "$dir/$helm" -C "$dir" --wildcards --strip-components=1 '*/helm'
  jq .values "$dir/helm.json" >"$dir/values.json"
  "$dir/helm" template "$release" "$dir/$chart" --namespace "$namespace" --values "$dir/values.json" >"$dir/helm-rendered.yaml"
}

# The newest Secret generated for serving certificate NAME, as JSON, or nothing.
current_serving_secret() {
  kubectl -n kube-system get secret -l "kubeadm-aws.io/serving-certificate=$1" -o json |
    jq -c '.items | sort_by(.metadata.creationTimestamp) | last // empty'
}

# Whether the PEM certificate on stdin expires within DAYS (0: is expired).
expires_within() {
  ! openssl x509 -noout -checkend "$(($1 * 86400))" >/dev/null
}

# Writes tls.crt, tls.key and ca-bundle.crt into an add-on's folder for its
# secretGenerator. The certificate in the cluster is kept, byte for byte, while
# it has more than renewBeforeDays left, so the Secret's name does not change.
# Otherwise a new self-signed certificate is made here; the bundle keeps the
# one before it while it is valid, so pods still serving it stay trusted until
# the rollout that the Secret's new name starts has replaced them.
serving_certificate() {
  local dir=$1 config=$1/serving-certificate.json name current previous
  [[ -f $config ]] || return 0
  name=$(jq -r .secretName "$config")
  current=$(current_serving_secret "$name")
  if [[ -n $current ]] && ! jq -r '.data["tls.crt"]' <<<"$current" | base64 -d | expires_within "$(jq -r .renewBeforeDays "$config")"; then
    (umask 077 && jq -r '.data["tls.key"]' <<<"$current" | base64 -d >"$dir/tls.key")
    jq -r '.data["tls.crt"]' <<<"$current" | base64 -d >"$dir/tls.crt"
    jq -r '.data.caBundle' <<<"$current" | base64 -d >"$dir/ca-bundle.crt"
    return 0
  fi
  log "making a new serving certificate for $name"
  (umask 077 && openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$(jq -r .validDays "$config")" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" -config <(jq -r '"[req]", "prompt = no", "distinguished_name = subject",
      "x509_extensions = serving", "[subject]", "CN = \(.dnsNames[0])", "[serving]", "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature", "extendedKeyUsage = serverAuth",
      "subjectAltName = \([.dnsNames[] | "DNS:\(.)"] | join(","))"' "$config") 2>/dev/null) ||
    die "cannot make a serving certificate for $name"
  cp "$dir/tls.crt" "$dir/ca-bundle.crt"
  previous=$(jq -r '.data["tls.crt"] // empty' <<<"${current:-null}" | base64 -d)
  if [[ -n $previous ]] && ! expires_within 0 <<<"$previous"; then
    echo "$previous" >>"$dir/ca-bundle.crt"
  fi
}

# Whether a serving certificate of the specification is missing or due for renewal.
serving_certificates_due() {
  local name days current
  while IFS=$'\t' read -r name days; do
    current=$(current_serving_secret "$name")
    [[ -n $current ]] || return 0
    if jq -r '.data["tls.crt"]' <<<"$current" | base64 -d | expires_within "$days"; then return 0; fi
  done < <(jq -r '.addons[].servingCertificate // empty | [.secretName, .renewBeforeDays] | @tsv' "$1")
  return 1
}

# Deletes the Secrets of serving certificate NAME but the newest two: the one
# in use, and the one that pods of an unfinished rollout may still mount.
prune_serving_secrets() {
  local old
  kubectl -n kube-system get secret -l "kubeadm-aws.io/serving-certificate=$1" -o json |
    jq -r '.items | sort_by(.metadata.creationTimestamp) | .[:-2][] | .metadata.name' |
    while read -r old; do kubectl -n kube-system delete secret "$old" --ignore-not-found; done
}

# Writes each add-on of the specification as a folder: its files, sources.tsv
# and helm.json. One jq pass emits "folder<TAB>file<TAB>base64 content" lines.
materialize() {
  local spec=$1 root=$2 folder file content
  rm -rf "$root" && mkdir -p "$root"
  while IFS=$'\t' read -r folder file content; do
    [[ $folder/$file =~ ^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$ && $file != .* ]] || die "add-on specification names an unsafe path: $folder/$file"
    mkdir -p "$root/$folder"
    base64 -d <<<"$content" >"$root/$folder/$file"
  done < <(jq -r '.addons[] | ("\(if .order < 10 then "0" else "" end)\(.order)-\(.name)") as $folder
    | ((.files | to_entries[] | [$folder, .key, (.value | @base64)]),
       [$folder, "sources.tsv", ([.downloads[] | "\(.sha256) \(.url) \(.file)\n"] | add // "" | @base64)],
       (.helm // empty | [$folder, "helm.json", (tojson | @base64)]),
       (.servingCertificate // empty | [$folder, "serving-certificate.json", (tojson | @base64)]))
    | @tsv' "$spec")
}

# Succeeds, saying why, when the specification follows a minor that not every control-plane node runs yet (a minor
# upgrade, README "Upgrading"): the add-ons that follow the minor move only after the control plane.
hold_for_minor_upgrade() {
  local minor recorded
  minor=$(jq -r '.kubernetesMinor // empty' "$1")
  recorded=$(retry 5 ssm_get "$SSM_KUBERNETES_VERSION") || return 1
  [[ -n $minor && $recorded =~ ^v?([0-9]+\.[0-9]+)\. && ${BASH_REMATCH[1]} != "$minor" ]] || return 1
  log "holding the add-on specification for Kubernetes $minor until every control-plane node runs it (the cluster runs $recorded)"
}

main() {
  load_config
  export KUBECONFIG="${KUBECONFIG:-$ROOT/etc/kubernetes/admin.conf}"
  local force=${1:-} me spec sha expected applied dir
  me=$(retry 10 imds meta-data/local-hostname)
  spec="$STATE_DIR/addons/spec.json"
  mkdir -p "$STATE_DIR/addons"
  # The checksum first: Terraform writes it after the object, so a matching pair is never older than it.
  expected=$(retry 5 ssm_get "$SSM_ADDON_SPEC_SHA256") || die "cannot read the add-on specification's checksum $SSM_ADDON_SPEC_SHA256"
  retry 5 s3_get "s3://$(cluster_bucket nodes)/$ADDON_SPEC_KEY" "$spec"
  sha=$(sha256sum "$spec" | cut -d' ' -f1)
  # Only a specification Terraform recorded runs as root here; a mismatch is either an object written by
  # someone else or a deploy in progress, which the next run of the timer finds complete.
  [[ $sha == "$expected" ]] || die "add-on specification s3://$(cluster_bucket nodes)/$ADDON_SPEC_KEY has sha256 $sha, not $expected as recorded in $SSM_ADDON_SPEC_SHA256; not applying it"
  hold_for_minor_upgrade "$spec" && return 0
  acquire_lease "$me" || return 0
  applied=$(kubectl -n kube-system get configmap "$LEASE" -o jsonpath='{.data.specSha256}' 2>/dev/null || true)
  if [[ $applied == "$sha" && $force != --force ]]; then
    if ! serving_certificates_due "$spec"; then
      log "add-on specification ${sha:0:12} is applied; nothing to do"
      return 0
    fi
    log "a serving certificate is missing or due for renewal"
  fi
  log "applying add-on specification ${sha:0:12} (was ${applied:-none})"
  materialize "$spec" "$STATE_DIR/addons/folders"
  for dir in "$STATE_DIR"/addons/folders/*/; do
    dir=${dir%/}
    log "applying add-on $(basename "$dir")"
    download_sources "$dir"
    render_helm "$dir"
    serving_certificate "$dir"
    retry 10 kubectl apply --server-side --force-conflicts --field-manager=kubeadm-aws -k "$dir"
    if [[ -f $dir/serving-certificate.json ]]; then
      rm -f "$dir/tls.key"
      prune_serving_secrets "$(jq -r .secretName "$dir/serving-certificate.json")"
    fi
  done
  kubectl -n kube-system create configmap "$LEASE" --from-literal=specSha256="$sha" --from-literal=appliedBy="$me" \
    --dry-run=client -o yaml | kubectl apply --server-side --force-conflicts --field-manager=kubeadm-aws -f -
  log "add-on specification ${sha:0:12} applied"
}

# Sourced by tests for its steps; run by the add-on timer otherwise.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
