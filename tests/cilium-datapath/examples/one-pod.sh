#!/usr/bin/env bash
# An example COMMAND for run-scenario.sh: one Pending Pod wired to a network namespace by the real
# cilium-cni, then checks that the agent gave its endpoint an identity from the pod's labels (not
# reserved:init) and that the endpoint is ready. Not a test of scrapepath; a starting point for the
# seed scenario (issue 18, item 2).
#
#   tests/cilium-datapath/run-scenario.sh <kubeconfig> tests/cilium-datapath/examples/one-pod.sh
#
# Notes from trying it: without a kubelet a deleted pod stays Terminating forever (delete with
# --force --grace-period=0), and spec.nodeName is immutable: a pod left by an earlier run (another
# Node) makes the agent log `Unable to fetch kubernetes labels … pod "…" not found` and keep the
# endpoint at reserved:init. Hence a unique namespace per run.
set -euo pipefail

ns="dp-example-$(date +%s%N | tail -c 7)"
pod=web-0
netconf='{"cniVersion":"0.3.1","name":"cilium","type":"cilium-cni"}'
kc() { "$KUBECTL" --kubeconfig="$KUBECONFIG" "$@"; }

cleanup() {
  printf '%s' "$netconf" | CNI_COMMAND=DEL CNI_CONTAINERID="$ns-$pod" CNI_NETNS="/run/netns/$pod" \
    CNI_IFNAME=eth0 CNI_PATH=/nonexistent CNI_ARGS="K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$pod" \
    "$CILIUM_CNI" >/dev/null 2>&1 || true
  ip netns del "$pod" 2>/dev/null || true
  kc delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  kc delete pod -n "$ns" "$pod" --force --grace-period=0 >/dev/null 2>&1 || true
}
trap cleanup EXIT

kc create namespace "$ns" >/dev/null
kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $pod, namespace: $ns, labels: {app: web}}
spec:
  nodeName: $SCENARIO_NODE
  containers: [{name: web, image: none.invalid/web}]
EOF

ip netns add "$pod"
start=$(date +%s.%N)
printf '%s' "$netconf" | CNI_COMMAND=ADD CNI_CONTAINERID="$ns-$pod" CNI_NETNS="/run/netns/$pod" \
  CNI_IFNAME=eth0 CNI_PATH=/nonexistent CNI_ARGS="K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$pod" \
  "$CILIUM_CNI" >"$SCENARIO_WORK/cni-add.json"
ip="$(jq -r '.ips[0].address' "$SCENARIO_WORK/cni-add.json")"
echo "one-pod.sh: cilium-cni ADD gave $ns/$pod $ip in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"

for _ in $(seq 1 60); do
  ep="$(cilium-dbg endpoint list -o json | jq -c --arg ip "${ip%/*}" \
    '.[] | select(.status.networking.addressing[0].ipv4 == $ip) | {id: .status.identity.id, labels: .status.identity.labels, state: .status.state}')"
  case "$ep" in *'"state":"ready"'*) case "$ep" in *'"id":5,'*) ;; *) break ;; esac ;; esac
  sleep 0.5
done
echo "one-pod.sh: endpoint $ep"
case "$ep" in
*'"id":5,'* | "") echo "one-pod.sh: FAILED: no identity from the pod's labels" >&2; exit 1 ;;
*'k8s:app=web'*) echo "one-pod.sh: ok" ;;
*) echo "one-pod.sh: FAILED: the identity lacks k8s:app=web" >&2; exit 1 ;;
esac
