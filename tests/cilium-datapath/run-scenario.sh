#!/usr/bin/env bash
# Runs the real Cilium agent (tests/cilium-datapath/ensure.sh) against a test API server, isolated
# in its own mount and network namespaces, waits until it is ready, runs a command beside it, and
# cleans up.
#
# usage: run-scenario.sh [--keep] KUBECONFIG [COMMAND [ARG...]]
#
#   KUBECONFIG  admin kubeconfig of the API server (tests/harness: <data dir>/kubeconfig; its server
#               must be https://127.0.0.1:<port>, as scrapepath-testenv writes it).
#   COMMAND     run inside the scenario's namespaces once the agent is ready (default: print
#               `cilium-dbg status`). It gets CILIUM_DBG, CILIUM_CNI, CILIUM_LIB_DIR, KUBECONFIG, KUBECTL,
#               SCENARIO_NODE (the Node's name), SCENARIO_WORK (the scenario's directory) and PATH
#               with the Cilium binaries and clang first. Its exit status is the script's.
#   --keep      keep the scenario's directory (agent log, state) after the run.
#
# What it does:
#   host side   applies the CRDs of the agent's release (server-side apply), creates a Node with a
#               podCIDR (no kubelet: the agent needs only the Node), starts the inner part in
#               `unshare --mount --net --pid`, and bridges the API server's 127.0.0.1:<port> into that
#               network namespace (nsforward).
#   inside      own /run (tmpfs), sysfs, bpffs at /sys/fs/bpf, cgroup2 at /run/cilium/cgroupv2; a
#               veth pair (cdp0/cdp1) as the agent's --devices (this kernel has no dummy links);
#               the agent with native routing, IPAM from the Node's podCIDR, CRD identities, and
#               kube-proxy replacement, socket LB, masquerading, iptables, the L7 proxy, Hubble and
#               health checking off; ready when `cilium-dbg status --brief` says OK and the host
#               endpoint is "ready" (its BPF programs compiled with clang and attached).
#   clean-up    (traps on EXIT/INT/TERM, also on failure) the inner shell stops the command and the
#               agent by PID (TERM, then KILL) and deletes the link; it is PID 1 of its own PID
#               namespace (`unshare --pid`), so its exit kills anything the command left behind,
#               and the network and mount namespaces (links, BPF programs, bpffs, mounts) go with
#               their last process. The host side stops the inner shell and the forwarder by PID
#               (TERM, KILL after 15 s) and deletes the Node and the agent's CiliumNode; the
#               directory is removed unless --keep or the run failed. If the host side is killed
#               (-9), setpriv --pdeathsig kills unshare and the forwarder, and unshare's
#               --kill-child sends the inner shell TERM (only the Node and CiliumNode stay then).
#
# The Node's address and podCIDR: SCENARIO_NODE_IP (default 192.168.250.1, a /24 on cdp0) and
# SCENARIO_POD_CIDR (default 10.244.0.0/24; inside 10.244.0.0/16, the native-routing CIDR). Two
# scenarios against one API server need different ones (they would be two nodes with one podCIDR).
#
# What it leaves on the host: the agent sets kernel.unprivileged_bpf_disabled from 2 to 1 (a global
# sysctl that only tightens and cannot be set back); its net.* sysctls are private to the namespace.
# The CRDs stay in the API server (tests share them).
#
# Timings go to stderr as "run-scenario.sh: TIME <what> <seconds>".
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
say() { echo "run-scenario.sh: $*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

READY_TIMEOUT="${SCENARIO_READY_TIMEOUT:-180}"

# ---------------------------------------------------------------- inside the namespaces ----
if [ "${1:-}" = "--inner" ]; then
  shift
  work="$1"
  shift
  # shellcheck disable=SC1091
  . "$work/env"
  agent_pid=""
  cmd_pid=""
  inner_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -z "$cmd_pid" ] || kill -TERM "$cmd_pid" 2>/dev/null || true
    if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
      kill -TERM "$agent_pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$agent_pid" 2>/dev/null || true
      wait "$agent_pid" 2>/dev/null || true
    fi
    ip link del cdp0 2>/dev/null || true
    umount /run/cilium/cgroupv2 2>/dev/null || true
    umount /sys/fs/bpf 2>/dev/null || true
    # This shell is the PID namespace's init: when it exits, the kernel kills whatever is left
    # in the namespace (the command's children too), and the network namespace goes with them.
    exit "$rc"
  }
  trap inner_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  mount -t proc proc /proc # this shell is PID 1 of its own PID namespace
  mount -t tmpfs -o mode=755 tmpfs /run
  mount -t sysfs sysfs /sys
  mount -t bpf -o mode=700 bpf /sys/fs/bpf
  mkdir -p /run/cilium/cgroupv2
  mount -t cgroup2 none /run/cilium/cgroupv2
  ip link set lo up
  ip link add cdp0 type veth peer name cdp1
  ip addr add "$NODE_IP/24" dev cdp0
  ip link set cdp0 up
  ip link set cdp1 up
  echo ready >"$work/inner-ready"

  # Wait for the host side's forwarder: the API server at the kubeconfig's address.
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null; then break; fi
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$API_PORT") 2>/dev/null || die "the API server is not reachable inside the namespace at 127.0.0.1:$API_PORT (nsforward)"

  export PATH="$CLANG_DIR:$(dirname "$CILIUM_AGENT"):$PATH"
  export K8S_NODE_NAME="$NODE"
  start=$(now)
  "$CILIUM_AGENT" \
    --k8s-kubeconfig-path="$KUBECONFIG" \
    --lib-dir="$CILIUM_LIB_DIR" \
    --state-dir=/run/cilium \
    --bpf-root=/sys/fs/bpf \
    --cgroup-root=/run/cilium/cgroupv2 \
    --devices=cdp0 \
    --direct-routing-device=cdp0 \
    --routing-mode=native \
    --ipv4-native-routing-cidr="$NATIVE_CIDR" \
    --enable-ipv4=true \
    --enable-ipv6=false \
    --ipam=kubernetes \
    --identity-allocation-mode=crd \
    --kube-proxy-replacement=false \
    --bpf-lb-sock=false \
    --enable-ipv4-masquerade=false \
    --enable-bpf-masquerade=false \
    --install-iptables-rules=false \
    --enable-l7-proxy=false \
    --enable-hubble=false \
    --enable-health-checking=false \
    --enable-endpoint-health-checking=false \
    --cni-exclusive=false \
    ${CILIUM_AGENT_EXTRA_ARGS:-} \
    >"$work/agent.log" 2>&1 &
  agent_pid=$!
  echo "$agent_pid" >"$work/agent.pid"
  say "agent started (pid $agent_pid, log $work/agent.log)"
  host_endpoint_state() {
    # The state of the endpoint labelled reserved:host in `cilium-dbg endpoint list -o json`.
    jq -r '.[] | select(any(.status.labels["security-relevant"][]?; . == "reserved:host")) | .status.state'
  }
  ready=""
  deadline=$(($(date +%s) + READY_TIMEOUT))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    kill -0 "$agent_pid" 2>/dev/null || {
      tail -n 40 "$work/agent.log" >&2
      die "the agent exited before it was ready (log above: $work/agent.log)"
    }
    # Ready: the agent's health is OK and the host endpoint's programs are compiled and attached.
    if cilium-dbg status --brief >"$work/status-brief" 2>&1 &&
      [ "$(cilium-dbg endpoint list -o json 2>/dev/null | host_endpoint_state)" = ready ]; then
      ready=1
      break
    fi
    sleep 0.5
  done
  if [ -z "$ready" ]; then
    cilium-dbg status >&2 || true
    grep -E 'level=(error|warn)' "$work/agent.log" | tail -n 30 >&2 || true
    die "the agent was not ready after ${READY_TIMEOUT}s (log: $work/agent.log)"
  fi
  say "TIME agent-ready $(since "$start")"

  export CILIUM_DBG CILIUM_CNI CILIUM_LIB_DIR KUBECONFIG KUBECTL SCENARIO_NODE="$NODE" SCENARIO_WORK="$work"
  # In the background, so that a TERM reaches this shell's trap at once (not after the command).
  if [ $# -eq 0 ]; then
    cilium-dbg status &
  else
    "$@" &
  fi
  cmd_pid=$!
  set +e
  wait "$cmd_pid"
  rc=$?
  set -e
  cmd_pid=""
  exit "$rc"
fi

# ---------------------------------------------------------------- host side ----
keep=""
if [ "${1:-}" = "--keep" ]; then
  keep=1
  shift
fi
[ $# -ge 1 ] || die "usage: run-scenario.sh [--keep] KUBECONFIG [COMMAND [ARG...]]"
command -v jq >/dev/null 2>&1 || die "jq is missing (it reads cilium-dbg's JSON)"
kubeconfig="$(realpath "$1")"
shift
[ -r "$kubeconfig" ] || die "cannot read the kubeconfig $kubeconfig"

t0=$(now)
env_out="$("$here/ensure.sh")" || die "tests/cilium-datapath/ensure.sh failed (see above)"
eval "$(printf '%s\n' "$env_out" | grep -E '^[A-Z_]+=')"
if [ -z "${KUBECTL:-}" ]; then
  harness_out="$("$here/../harness/ensure.sh")" || die "tests/harness/ensure.sh failed (see above)"
  KUBECTL="$(printf '%s\n' "$harness_out" | sed -n 's/^KUBECTL_BIN=//p')"
fi
say "TIME ensure $(since "$t0")"
kc() { "$KUBECTL" --kubeconfig="$kubeconfig" "$@"; }

server="$(kc config view --minify -o jsonpath='{.clusters[0].cluster.server}')" ||
  die "cannot read the server of $kubeconfig"
case "$server" in
https://127.0.0.1:[0-9]*) api_port="${server##*:}" ;;
*) die "the kubeconfig's server is $server: expected https://127.0.0.1:<port> (the test API server)" ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/scrapepath-datapath.XXXXXX")"
node="dp-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')"
unshare_pid=""
inner_pid=""
fwd_pid=""
outer_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The inner shell (init of the scenario's PID namespace) stops the agent and the command on
  # TERM; KILL after 15 s. Its death kills every process left in its PID namespace, and the
  # network and mount namespaces (links, BPF programs, bpffs, mounts) go with the last of them.
  [ -z "$inner_pid" ] || kill -TERM "$inner_pid" 2>/dev/null || true
  [ -z "$fwd_pid" ] || kill -TERM "$fwd_pid" 2>/dev/null || true
  if [ -n "$inner_pid" ]; then
    for _ in $(seq 1 75); do kill -0 "$inner_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$inner_pid" 2>/dev/null || true
  fi
  local p
  for p in $unshare_pid $fwd_pid; do
    for _ in $(seq 1 25); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  kc delete node "$node" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  # The agent registered itself as a CiliumNode: left behind, a later agent against this API server
  # would take it for a remote node at the same address with the same podCIDR.
  kc delete ciliumnodes.cilium.io "$node" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  if [ -n "$keep" ] || [ "$rc" != 0 ]; then
    say "kept $work (agent.log, status)"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap outer_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The CRDs of the agent's release (the agent does not register them; the operator would).
t1=$(now)
kc apply --server-side --force-conflicts -f "$CILIUM_CRD_DIR/v2" -f "$CILIUM_CRD_DIR/v2alpha1" >/dev/null ||
  die "applying the Cilium CRDs of $CILIUM_CRD_DIR failed"
kc wait --for=condition=Established --timeout=60s -f "$CILIUM_CRD_DIR/v2" -f "$CILIUM_CRD_DIR/v2alpha1" >/dev/null ||
  die "the Cilium CRDs did not become Established"
say "TIME crds $(since "$t1")"

# The Node the agent runs as: a podCIDR for --ipam=kubernetes, its InternalIP on cdp0.
node_ip="${SCENARIO_NODE_IP:-192.168.250.1}"
pod_cidr="${SCENARIO_POD_CIDR:-10.244.0.0/24}"
cat >"$work/node.yaml" <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $node
  labels:
    kubernetes.io/hostname: $node
    kubernetes.io/os: linux
spec:
  podCIDR: $pod_cidr
  podCIDRs: [$pod_cidr]
EOF
kc apply -f "$work/node.yaml" >/dev/null || die "creating the Node $node failed"
kc patch node "$node" --subresource=status --type=merge \
  -p "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$node_ip\"},{\"type\":\"Hostname\",\"address\":\"$node\"}]}}" >/dev/null ||
  die "setting the Node's addresses failed"

cat >"$work/env" <<EOF
CILIUM_AGENT='$CILIUM_AGENT'
CILIUM_CNI='$CILIUM_CNI'
CILIUM_DBG='$CILIUM_DBG'
CILIUM_LIB_DIR='$CILIUM_LIB_DIR'
CLANG_DIR='$CLANG_DIR'
KUBECONFIG='$kubeconfig'
KUBECTL='$KUBECTL'
API_PORT='$api_port'
NODE='$node'
NODE_IP='$node_ip'
NATIVE_CIDR='10.244.0.0/16'
READY_TIMEOUT='$READY_TIMEOUT'
CILIUM_AGENT_EXTRA_ARGS='${CILIUM_AGENT_EXTRA_ARGS:-}'
EOF

# If this script dies, even by KILL: setpriv's --pdeathsig kills unshare (which ignores TERM while it
# waits), and unshare's --kill-child sends the inner shell TERM, which cleans up as on a failure.
setpriv --pdeathsig KILL -- unshare --mount --net --pid --kill-child=SIGTERM --propagation private -- \
  bash "$here/run-scenario.sh" --inner "$work" "$@" &
unshare_pid=$!
for _ in $(seq 1 100); do
  [ -f "$work/inner-ready" ] && break
  kill -0 "$unshare_pid" 2>/dev/null || break
  sleep 0.1
done
[ -f "$work/inner-ready" ] || { wait "$unshare_pid" || true; unshare_pid=""; die "the namespaces were not set up (see above)"; }
inner_pid="$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | awk '{print $1}')"
[ -n "$inner_pid" ] || die "cannot find the scenario's inner shell (child of unshare $unshare_pid)"
echo "$inner_pid" >"$work/inner.pid"
say "scenario $node in $work (inner pid $inner_pid: nsenter -t $inner_pid -m -n -p to look inside)"

setpriv --pdeathsig KILL -- "$NSFORWARD" -netns "/proc/$inner_pid/ns/net" -addr "127.0.0.1:$api_port" >"$work/nsforward.out" 2>"$work/nsforward.err" &
fwd_pid=$!

set +e
wait "$unshare_pid"
rc=$?
set -e
unshare_pid=""
inner_pid=""
say "TIME total $(since "$t0")"
exit "$rc"
