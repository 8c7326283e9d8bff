#!/usr/bin/env bash
# Creates, once, the Python virtual environment that holds the scanner (checkov)
# and the AWS emulator (moto server) pinned in python-requirements.txt, and
# prints its path.
#
#   python-tools.sh         prints the venv directory when it is ready
#
# KUBEADM_AWS_PYTHON names another interpreter (default python3, 3.11 or later);
# KUBEADM_AWS_CACHE another cache directory.
#
# The venv lives in a cache keyed by the hash of the requirements file, so a
# second run returns at once and a changed pin gets a fresh venv.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
requirements=$here/python-requirements.txt
cache=${KUBEADM_AWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cdktf-kubeadm-aws}
python=${KUBEADM_AWS_PYTHON:-python3}
if ! command -v "$python" >/dev/null; then
  echo "python-tools: $python not found; install Python 3.11 or later (Debian: apt-get install python3 python3-venv)" >&2
  exit 1
fi
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# The pins were resolved on Python 3.11; older interpreters lack wheels some of them need.
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "python-tools: $python is Python $pyver; the pinned tools need Python 3.11 or later (Debian 12: apt-get install python3 python3-venv)" >&2
  exit 1
fi
# The interpreter's minor is part of the key: a venv is tied to the Python that made it.
key=$( { cat "$requirements"; echo "python $pyver"; } | sha256sum | cut -c1-16)
venv=$cache/python/$key
if [[ -f $venv/.complete ]]; then echo "$venv"; exit 0; fi

if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "python-tools: the Python venv module (with ensurepip) is missing; install it (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
log() { echo "python-tools: $*" >&2; }
mkdir -p "$cache/python"
# Test files run in parallel: one builds, the others wait for it and reuse its venv.
exec 9>"$cache/python/.lock-$key"
flock 9
if [[ -f $venv/.complete ]]; then echo "$venv"; exit 0; fi
start=$SECONDS
# Build beside the final path and rename, so a crash never leaves a venv that looks complete.
work=$(mktemp -d "$cache/python/.build-$key.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "creating a venv for $(basename "$requirements") with Python $pyver in $venv"
"$python" -m venv "$work"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$work/bin/python" -m pip install --quiet --requirement "$requirements" >&2
# Scripts in a venv carry their absolute path in the shebang: rename means rewriting it.
grep -rlI --null "^#!$work/bin/" "$work/bin" | xargs -0 -r sed -i "1s|^#!$work/bin/|#!$venv/bin/|"
sed -i "s|$work|$venv|g" "$work/bin/activate" "$work/pyvenv.cfg" 2>/dev/null || true
rm -rf "$venv"
mv "$work" "$venv"
trap - EXIT
touch "$venv/.complete"
log "ready in $((SECONDS - start)) s ($(du -sh "$venv" | cut -f1))"
echo "$venv"
