#!/usr/bin/env bash
# Prints the Kubernetes patch of every supported minor that the real-binary
# suite builds and runs, one per line ("v1.35.4"), read from lib/versions.ts.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sed -n 's/^ *testedPatch: "\([0-9]*\.[0-9]*\.[0-9]*\)",$/v\1/p' "$here/../../lib/versions.ts"
