#!/usr/bin/env bash
# Makes the upstream corpora of tests/corpora.rs available and prints where they are, as KEY=VALUE lines
# on stdout (everything else goes to stderr):
#   PROMOP_DIR=  root of github.com/prometheus-operator/prometheus-operator (its example/ is a corpus)
#   CILIUM_DIR=  root of github.com/cilium/cilium (its examples/ is a corpus)
#   ISTIO_DIR=   root of istio.io/istio (its samples/ is a corpus), or nothing when it cannot be fetched:
#   ISTIO_ERROR= then says why
#
# The manifests are read where `go mod download` puts them (the module cache, read-only); nothing is
# copied into this repository. Idempotent: the module cache is the cache (a second run downloads nothing).
# Needs only Go and the Go module proxy — the same modules tests/harness/ensure.sh fetches CRDs from.
set -euo pipefail

# Upstream sources: module@version. Keep them in step with tests/harness/ensure.sh (same CRD releases) and
# with the versions tests/corpora.rs names in its assertions.
PROMOP_MOD="github.com/prometheus-operator/prometheus-operator@v0.91.0"
CILIUM_MOD="github.com/cilium/cilium@v1.19.3"
# Istio tags releases without a "v", so the proxy serves no semver for them: this pseudo-version is a
# snapshot of Istio's master branch (commit eed52ebb66ad, 2026-08-27), not a release.
ISTIO_MOD="istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad"

say() { echo "fetch.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

export GOTOOLCHAIN=local
export GOFLAGS=-mod=mod
export GOWORK=off
export GO111MODULE=on

command -v go >/dev/null 2>&1 ||
  die "Go is missing: the corpora are upstream repositories fetched as Go modules and need the 'go' command on PATH"

cache="${SCRAPEPATH_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/testenv}"
mkdir -p "$cache"

# One download at a time across processes.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.corpora.lock"
  flock 9
fi

# moddir MODULE@VERSION: the module's directory in the module cache, downloaded if missing. On failure
# prints nothing and returns 1, the reason in $fail.
fail=""
moddir() {
  local json dir
  if ! json="$(cd "$cache" && go mod download -json "$1" 2>&1)"; then
    fail="go mod download $1 failed (GOPROXY=$(go env GOPROXY)): $(printf '%s' "$json" | tr '\n' ' ' | sed 's/[[:space:]]\{2,\}/ /g')"
    return 1
  fi
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    fail="go mod download $1 gave no module directory: $(printf '%s' "$json" | tr '\n' ' ')"
    return 1
  fi
  echo "$dir"
}

# need DIR PATH...: every corpus file the test reads must be in the module (a new release may move them).
need() {
  local root="$1" p
  shift
  for p in "$@"; do
    [ -e "$root/$p" ] || die "$root has no $p: the corpus moved upstream; update tests/corpora.rs and this script"
  done
}

promop="$(moddir "$PROMOP_MOD")" || die "$fail"
need "$promop" example/user-guides/getting-started example/rbac/prometheus-operator example/thanos example/shards \
  example/admission-webhook example/networkpolicies
echo "PROMOP_DIR=$promop"

cilium="$(moddir "$CILIUM_MOD")" || die "$fail"
need "$cilium" examples/minikube examples/kubernetes/addons/prometheus/monitoring-example.yaml \
  examples/kubernetes/connectivity-check/connectivity-check.yaml
echo "CILIUM_DIR=$cilium"

# Istio is optional: the test reports it as skipped, with the reason, when the proxy does not serve it.
if istio="$(moddir "$ISTIO_MOD")"; then
  need "$istio" samples/bookinfo/platform/kube/bookinfo.yaml samples/addons/prometheus.yaml
  echo "ISTIO_DIR=$istio"
else
  say "$fail"
  echo "ISTIO_ERROR=$fail"
fi
