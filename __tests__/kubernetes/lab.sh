#!/usr/bin/env bash
# A lab of Kubernetes nodes on one machine, for the real-binary tests. Every
# node has its own network, mount and UTS namespaces; the host is left as it was.
#
#   lab.sh up LAB OWNER_PID                a bridge 10.77.0.1/24 in LAB's own network namespace,
#                                          first reaping labs whose owner process is gone
#   lab.sh node LAB NODE IP HOSTNAME DIR   a node on that bridge, its writes kept under DIR
#   lab.sh exec LAB NODE COMMAND...        runs a command inside a node
#   lab.sh gateway LAB COMMAND...          runs a command on the bridge's side (a client of every node)
#   lab.sh poweroff LAB NODE               kills every process of a node at once, as a power cut does; its
#                                          files stay and its /run is emptied, so it can boot again
#   lab.sh remove LAB NODE                 kills every process of a node and deletes it (a terminated instance)
#   lab.sh down LAB                        stops every process of the lab, removes it and its cgroups
#
# A node sees the host's files through overlays, so kubeadm, kubelet and our
# scripts read and write the real paths (/etc/kubernetes, /var/lib/kubelet)
# while every write lands in DIR/upper. /run is the node's own; /tmp is the
# host's, so tests hand files over through it. containerd's root is a plain
# directory: overlayfs cannot hold its snapshots.
# LAB must be short: interface names have 15 characters.
set -euo pipefail

STATE=/run/kubeadm-aws-lab
BRIDGE_IP=10.77.0.1
PREFIX=24
OVERLAID=(/etc /opt /root /usr /var)

usage() { sed -n '4,13p' "$0" >&2; exit 2; }
netns() { echo "kaws-$1${2:+-$2}"; }

up() {
  local lab=$1 owner=$2 ns staged lock
  mkdir -p "$STATE"
  # One up at a time, so two tests that start together never remove the same stale lab at once.
  exec {lock}>"$STATE/.lock"
  flock "$lock"
  reap
  ns=$(netns "$lab")
  # The lab's directory appears with its owner in it: a reap must never see it without one and remove it.
  staged=$(mktemp -d "$STATE/.up.XXXXXX")
  echo "$owner" >"$staged/owner"
  mv -T "$staged" "$STATE/$lab"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add br0 type bridge
  ip -n "$ns" addr add "$BRIDGE_IP/$PREFIX" dev br0
  ip -n "$ns" link set br0 up
}

# A node's namespaces are held by a sleeping process; commands enter them through it,
# which also gives them its root directory (setns alone would reset it, and a lab
# made inside a chroot would lose the chroot).
node() {
  local lab=$1 node=$2 ip=$3 hostname=$4 dir=$5 ns holder
  ns=$(netns "$lab" "$node")
  ip netns add "$ns"
  ip -n "$(netns "$lab")" link add "v$node" type veth peer name eth0 netns "$ns"
  ip -n "$(netns "$lab")" link set "v$node" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$ip/$PREFIX" dev eth0
  ip -n "$ns" link set eth0 up
  # kubeadm takes the advertise address from the interface of the default route, as on EC2.
  ip -n "$ns" route add default via "$BRIDGE_IP"
  mkdir -p "$dir/upper" "$dir/work" "$dir/containerd"
  # shellcheck disable=SC2016 # the inner bash expands its arguments
  setsid nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation private \
    bash -euo pipefail -c '
      dir=$1 hostname=$2; shift 2
      for path in "$@"; do
        mkdir -p "$dir/upper$path" "$dir/work$path"
        mount -t overlay overlay -o "lowerdir=$path,upperdir=$dir/upper$path,workdir=$dir/work$path" "$path"
      done
      mkdir -p /var/lib/containerd
      mount --bind "$dir/containerd" /var/lib/containerd
      mount -t tmpfs -o mode=0755 tmpfs /run
      hostname "$hostname"
      echo "$hostname" >/etc/hostname
      cd /
      echo ready
      exec sleep infinity
    ' node "$dir" "$hostname" "${OVERLAID[@]}" </dev/null >"$dir/holder.log" 2>&1 &
  holder=$!
  echo "$holder" >"$STATE/$lab/$node.pid"
  for _ in $(seq 100); do
    grep -qx ready "$dir/holder.log" 2>/dev/null && return 0
    kill -0 "$holder" 2>/dev/null || break
    sleep 0.1
  done
  echo "lab: node $node did not start: $(cat "$dir/holder.log")" >&2
  return 1
}

enter() {
  local lab=$1 node=$2
  shift 2
  exec nsenter --target "$(cat "$STATE/$lab/$node.pid")" --net --mount --uts --root --wd -- "$@"
}

gateway() {
  local lab=$1
  shift
  exec ip netns exec "$(netns "$lab")" "$@"
}

# A node's processes: those in its network namespace, and those in its kubelet's
# cgroups (pods have network namespaces of their own). Its holder is among them.
node_pids() {
  local name
  name=$(netns "$1" "$2")
  { ip netns pids "$name" 2>/dev/null || true; find /sys/fs/cgroup/*/"$name" -name cgroup.procs -exec cat {} + 2>/dev/null || true; } | sort -un
}

# kill_node LAB NODE [KEEP_PID]: SIGKILL to every process of the node but KEEP_PID, until none is left. They are
# all stopped first: killed one by one, a shell whose child died first could still run its exit trap (a bootstrap
# marking its node unhealthy), which no power cut allows.
kill_node() {
  local lab=$1 node=$2 keep=${3:-0} pids stopped=""
  for _ in $(seq 20); do
    pids=$(node_pids "$lab" "$node" | grep -vx "$keep" || true)
    [[ $pids != "$stopped" ]] || break
    # shellcheck disable=SC2086 # one pid per word
    kill -STOP $pids 2>/dev/null || true
    stopped=$pids
  done
  for _ in $(seq 100); do
    pids=$(node_pids "$lab" "$node" | grep -vx "$keep" || true)
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  echo "lab: processes of $node survived SIGKILL: $pids" >&2
  return 1
}

# The holder keeps the namespaces; a fresh /run is what a boot starts with.
poweroff() {
  local lab=$1 node=$2 holder
  holder=$(cat "$STATE/$lab/$node.pid")
  kill_node "$lab" "$node" "$holder"
  nsenter --target "$holder" --net --mount --uts --root --wd -- bash -c 'umount -l /run && mount -t tmpfs -o mode=0755 tmpfs /run'
}

remove() {
  local lab=$1 node=$2 root
  kill_node "$lab" "$node"
  ip netns delete "$(netns "$lab" "$node")"
  for root in /sys/fs/cgroup/*/"$(netns "$lab" "$node")"; do
    [[ -d $root ]] && { find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true; }
  done
  rm -f "$STATE/$lab/$node.pid"
}

# Every process of the lab lives in one of its network namespaces, the holders included.
down() {
  local lab=$1 ns pids root
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$(netns "$lab")(-|$)" || true); do
    pids=$(ip netns pids "$ns" || true)
    if [[ -n $pids ]]; then
      # shellcheck disable=SC2086 # one pid per word
      kill -TERM $pids 2>/dev/null || true
      for _ in $(seq 50); do [[ -z $(ip netns pids "$ns") ]] && break; sleep 0.1; done
      # shellcheck disable=SC2046
      kill -KILL $(ip netns pids "$ns") 2>/dev/null || true
    fi
    ip netns delete "$ns"
  done
  # The kubelets' cgroup roots (/kaws-LAB-NODE), deepest first: cgroups go with rmdir, never rm -r.
  for root in /sys/fs/cgroup/*/"$(netns "$lab")"-*; do
    [[ -d $root ]] && { find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true; }
  done
  rm -rf "${STATE:?}/$lab"
}

# A test process killed before it could clean up leaves its lab behind: remove
# every lab whose owner is gone (or that never recorded one).
reap() {
  local dir owner
  for dir in "$STATE"/*/; do
    [[ -d $dir ]] || continue
    owner=$(cat "$dir/owner" 2>/dev/null || true)
    [[ -n $owner ]] && kill -0 "$owner" 2>/dev/null && continue
    down "$(basename "$dir")"
  done
}

(($# >= 2)) || usage
command=$1
shift
case $command in
  up) (($# == 2)) || usage && up "$@" ;;
  node) (($# == 5)) || usage && node "$@" ;;
  exec) (($# >= 3)) || usage && enter "$@" ;;
  gateway) gateway "$@" ;;
  poweroff) (($# == 2)) || usage && poweroff "$@" ;;
  remove) (($# == 2)) || usage && remove "$@" ;;
  down) down "$@" ;;
  *) usage ;;
esac
