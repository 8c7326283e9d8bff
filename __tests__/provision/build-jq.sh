#!/usr/bin/env bash
# Builds the jq the nodes run (Ubuntu 24.04 ships jq 1.7.1) into the cache,
# from Debian's copy of its source release, pinned by sha256.
#
#   build-jq.sh        prints the cache directory when done
#
# A second run returns at once. Why not the host's jq: Debian 12 has 1.6,
# which no node runs, and 1.6 takes 16 ms to start where 1.7.1 takes 3 ms; the
# sandbox tests start jq thousands of times (their scripts and their fakes).
set -euo pipefail

JQ_VERSION=1.7.1
SOURCE_URL=https://deb.debian.org/debian/pool/main/j/jq/jq_$JQ_VERSION.orig.tar.gz
SOURCE_SHA256=fc75b1824aba7a954ef0886371d951c3bf4b6e0a921d1aefc553f309702d6ed1

cache=${KUBEADM_AWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdktf-kubeadm-aws}
out=$cache/jq/$JQ_VERSION
if [[ -f $out/.complete ]]; then echo "$out"; exit 0; fi

log() { echo "build-jq $JQ_VERSION: $*" >&2; }
# quiet COMMAND...: shows a build step's output only when it fails.
quiet() {
  local output
  output=$("$@" 2>&1) || { echo "$output" >&2; log "failed: $*"; return 1; }
}
for tool in curl autoreconf make gcc; do
  command -v "$tool" >/dev/null || { log "$tool is missing (provision.sh installs it)"; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

curl -fsSL --retry 3 -o "$work/source.tar.gz" "$SOURCE_URL" || { log "cannot download $SOURCE_URL"; exit 1; }
echo "$SOURCE_SHA256  $work/source.tar.gz" | sha256sum --check --status || { log "$SOURCE_URL does not match sha256 $SOURCE_SHA256"; exit 1; }
tar -xzf "$work/source.tar.gz" -C "$work"
cd "$work/jq-jq-$JQ_VERSION"
# The release archive has no .git, from which the version script would stamp "jq-" (Debian patches it too).
printf '#!/bin/sh\necho %s\n' "$JQ_VERSION" >scripts/version
quiet autoreconf -i
# Oniguruma from Debian (libonig-dev): jq's regular expressions (test, sub, capture) need it.
quiet ./configure --disable-docs --disable-valgrind --disable-maintainer-mode --with-oniguruma=yes
quiet make -j"$(nproc)"
mkdir -p "$out/bin"
install -m 0755 jq "$out/bin/jq"
[[ $("$out/bin/jq" --version) == "jq-$JQ_VERSION" ]] || { log "the build reports $("$out/bin/jq" --version)"; exit 1; }
touch "$out/.complete"
echo "$out"
