#!/usr/bin/env bash
# Applies the cluster add-ons under ADDONS_DIR, one kustomization per folder,
# in name order. Each folder may list downloads in sources.tsv
# ("<sha256> <url> <file>"); a download whose checksum differs aborts the run.
# Server-side apply makes a rerun a no-op.
set -Eeuo pipefail
SCRIPT_NAME=apply-addons
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

download_sources() {
  local dir=$1 sha url file
  [[ -f "$dir/sources.tsv" ]] || return 0
  while read -r sha url file; do
    [[ -n $sha && $sha != \#* ]] || continue
    if ! echo "$sha  $dir/$file" | sha256sum --check --status 2>/dev/null; then
      retry 5 curl -fsSL "$url" -o "$dir/$file.download"
      if ! echo "$sha  $dir/$file.download" | sha256sum --check --status; then
        rm -f "$dir/$file.download"
        die "checksum mismatch for $url: expected sha256 $sha, got $(sha256sum "$dir/$file.download" 2>/dev/null | cut -d' ' -f1 || echo none); refusing to apply $(basename "$dir")"
      fi
      mv "$dir/$file.download" "$dir/$file"
    fi
  done <"$dir/sources.tsv"
}

main() {
  load_config
  local dir
  for dir in "$ROOT$ADDONS_DIR"/*/; do
    dir=${dir%/}
    log "applying add-on $(basename "$dir")"
    download_sources "$dir"
    retry 10 kubectl apply --server-side --force-conflicts --field-manager=kubeadm-aws -k "$dir"
  done
}

main "$@"
