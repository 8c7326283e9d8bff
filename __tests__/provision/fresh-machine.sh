#!/usr/bin/env bash
# Runs README's two commands on a fresh machine of the kind CI uses, made
# from this one without changing it:
#  - a private mount namespace whose / is an overlay of the host's /, with the
#    Debian packages the tests need purged from it;
#  - a clean clone of this working tree (HEAD plus uncommitted changes) in it;
#  - then `npm ci && npm run synth` and `npm test`, exactly as README gives them.
#
#   fresh-machine.sh PROJECT_DIR WORK_DIR
#
# FRESH_MACHINE_JEST_ARGS="<jest arguments>", for debugging by hand: provision, then only those tests, instead of
# `npm test` (the fresh-machine test never sets it).
#
# Caches of built Kubernetes binaries, the Python tools and npm stay visible
# (they are caches, not machine setup); the inner test run knows it is inner
# (KUBEADM_AWS_FRESH_MACHINE=inner) and does not start another one.
set -euo pipefail
project=$(cd "${1:?usage: fresh-machine.sh PROJECT_DIR WORK_DIR}" && pwd)
work=${2:?usage: fresh-machine.sh PROJECT_DIR WORK_DIR}
# What a fresh machine of this kind lacks (issue: README's two commands must pass on one).
# libltdl-dev (libtool's recommendation) too: it needs automake through a virtual package (automake-1.16), which
# apt-cache rdepends below does not follow.
PURGED=(shellcheck cloud-init etcd-server etcd-client python3-yaml containerd runc jq autoconf automake libtool libltdl-dev libonig-dev)

mkdir -p "$work/upper" "$work/overlay-work" "$work/root"
# The clone: tracked files at HEAD, then the working tree's changes and new files on top.
git clone --quiet --no-hardlinks "$project" "$work/clone"
(cd "$project" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
  [[ -e $file ]] && printf '%s\0' "$file"
done | tar --null -T - -cf -) | tar -xf - -C "$work/clone"
(cd "$project" && git ls-files -z --deleted) | (cd "$work/clone" && xargs -0 -r rm -f --)

# What runs on the fresh machine: the purge, then README's two commands, exactly.
cat >"$work/clone/.fresh-machine-run" <<EOF
set -euo pipefail
touch /.kubeadm-aws-fresh-machine
# With every installed package that depends on them (yq needs jq, for one), as on a machine that never had them:
# dependents left behind would break dpkg's state, and apt then installs nothing that needs another package changed
# (jq from the archive needs a newer libjq1 than this image's).
purged=\$(apt-cache rdepends --installed --recurse --no-suggests --no-recommends --no-enhances ${PURGED[*]} |
  grep -v '^Reverse Depends' | tr -d ' |' | sort -u)
dpkg --purge --force-depends \$purged >/dev/null 2>&1
apt-get check >/dev/null || { echo "fresh-machine: dpkg's state is broken after the purge" >&2; exit 1; }
for command in shellcheck cloud-init etcd jq containerd autoreconf; do
  if command -v "\$command" >/dev/null; then echo "fresh-machine: \$command is still installed" >&2; exit 1; fi
done
echo "fresh-machine: purged" \$purged
cd /tmp/project
echo "+ npm ci && npm run synth"
npm ci && npm run synth
if [[ -n "${FRESH_MACHINE_JEST_ARGS:-}" ]]; then
  echo "+ bash __tests__/provision/provision.sh && npx jest --ci ${FRESH_MACHINE_JEST_ARGS:-}"
  bash __tests__/provision/provision.sh && npx jest --ci ${FRESH_MACHINE_JEST_ARGS:-}
else
  echo "+ npm test"
  npm test
fi
EOF

# A private PID namespace too: when this script dies, everything the inner run
# started (kubelets, etcd, moto) dies with it.
# shellcheck disable=SC2016 # the inner bash expands its arguments
unshare --mount --propagation private --pid --fork --kill-child bash -euo pipefail -c '
  work=$1
  root=$work/root
  mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/overlay-work" "$root"
  mount --rbind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"
  # containerd keeps its snapshots under the temporary directories of the tests, and overlayfs cannot hold them.
  mount -t tmpfs -o mode=1777,size=16g tmpfs "$root/tmp"
  mkdir -p "$root/tmp/project"
  mount --bind "$work/clone" "$root/tmp/project"
  # Not exec: this bash stays PID 1 of the namespace and reaps orphans.
  chroot "$root" /usr/bin/env -i HOME=/root PATH="$PATH" TERM=dumb LANG=C.UTF-8 KUBEADM_AWS_FRESH_MACHINE=inner \
    bash /tmp/project/.fresh-machine-run
' fresh-machine "$work"
