#!/usr/bin/env bash
# Watch scrapepath reconcile the seed 000 incident on a local control plane:
#   1. builds (once, cached) and starts kube-apiserver + etcd + the garbage collector on loopback
#      (tests/harness/, Go modules only — no containers, no kind);
#   2. installs the upstream CRDs of prometheus-operator, Cilium and Istio, and scrapepath's own;
#   3. applies deploy/examples/blog-system/intent (the broken cluster plus two Report-mode intents) and an
#      Enforce-mode intent;
#   4. runs `scrapepath run` against it in the foreground. In another shell:
#        export KUBECONFIG=target/demo/kubeconfig
#        kubectl get scrapeintents -n blog-system        (kubectl: the KUBECTL_BIN line printed below)
#        kubectl describe scrapeintent was-metrics -n blog-system
#        kubectl get ciliumnetworkpolicies,podmonitors -n blog-system
# Ctrl-C stops the operator and the control plane. DATA_DIR (default target/demo) keeps the cluster's data.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(tests/harness/ensure.sh)"
echo "KUBECTL_BIN=$KUBECTL_BIN"
data="${DATA_DIR:-target/demo}"
mkdir -p "$data"

# The control plane exits when its stdin closes: keep a pipe open for as long as this script runs.
coproc TESTENV { exec "$TESTENV_BIN" --data-dir "$data" 2>"$data/testenv.log"; }
trap 'kill "$TESTENV_PID" 2>/dev/null || true' EXIT
read -r ready kubeconfig <&"${TESTENV[0]}" || { echo "demo: the control plane did not start; see $data/testenv.log" >&2; exit 1; }
[ "$ready" = READY ] || { echo "demo: unexpected output from the control plane: $ready $kubeconfig" >&2; exit 1; }
export KUBECONFIG="$kubeconfig"
k() { "$KUBECTL_BIN" "$@"; }

echo "demo: installing CRDs"
for f in "$CRD_DIR"/prometheus-operator/*.yaml "$CRD_DIR"/cilium/*.yaml "$CRD_DIR"/istio/*.yaml crds/*.yaml; do
  k apply --server-side --force-conflicts -f "$f" >/dev/null
done
k wait --for=condition=Established crd --all --timeout=60s >/dev/null

echo "demo: applying the seed 000 example"
# Namespaces first; the example's uids and ownerReferences are dropped; status goes through the status
# subresource (pods Running with their IPs, the Prometheus Ready), as their controllers would write it.
cargo build --release --quiet --example apply --bin scrapepath
target/release/examples/apply deploy/examples/blog-system/intent
cat <<'YAML' | target/release/examples/apply -
apiVersion: scrapepath.io/v1alpha1
kind: ScrapeIntent
metadata: {name: was-metrics, namespace: blog-system}
spec:
  selector: {matchLabels: {app: was}}
  endpoints:
  - {port: http-envoy-prom, path: /stats/prometheus, interval: 15s}
  scraper: {kind: Prometheus, namespace: monitoring, name: kube-prometheus-stack-prometheus}
  mode: Enforce
YAML

echo "demo: KUBECONFIG=$kubeconfig; starting scrapepath run (Ctrl-C to stop)"
target/release/scrapepath run
