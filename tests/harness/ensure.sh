#!/usr/bin/env bash
# Makes the integration-test control plane available and prints where it is, as KEY=VALUE lines on
# stdout (everything else goes to stderr):
#   TESTENV_BIN=  scrapepath-testenv (etcd + kube-apiserver + kube-controller-manager, one process)
#   KUBECTL_BIN=  kubectl built from the same k8s.io/kubernetes module
#   CRD_DIR=      upstream CRDs fetched from their Go modules (prometheus-operator, Cilium, Istio security)
#
# Idempotent. The binaries are built once and cached under
#   ${SCRAPEPATH_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/testenv}/bin/<key>/
# where <key> is the sha256 of go.mod + go.sum + main.go + the Go version + the linker flags. The CRDs are cached under
# .../crds/<versions>/. Needs only Go (see go.mod for the version) and the Go module proxy.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# Upstream CRD sources: module@version and the directory (or file) inside its module zip.
PROMOP_MOD="github.com/prometheus-operator/prometheus-operator@v0.91.0"
PROMOP_DIR="example/prometheus-operator-crd"
CILIUM_MOD="github.com/cilium/cilium@v1.19.3"
CILIUM_DIR="pkg/k8s/apis/cilium.io/client/crds/v2"
# Istio tags releases without a "v", so the proxy knows them by pseudo-version: this is tag 1.31.0.
ISTIO_MOD="istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad"
ISTIO_FILE="manifests/charts/base/files/crd-all.gen.yaml"

say() { echo "ensure.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"

if ! command -v go >/dev/null 2>&1; then
  die "Go is missing: the integration tests build kube-apiserver/etcd from Go modules and need the 'go' command (Go >= $(sed -n 's/^go //p' "$here/go.mod")) on PATH"
fi
need="$(sed -n 's/^go //p' "$here/go.mod")"
have="$(go env GOVERSION)"
have="${have#go}"
if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  die "Go $have is too old: tests/harness/go.mod needs Go >= $need (GOTOOLCHAIN=local: no toolchain download)"
fi

proxy_hint() {
  echo "the Go module proxy is not reachable or refused the download (GOPROXY=$(go env GOPROXY))"
}

cache="${SCRAPEPATH_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/testenv}"
mkdir -p "$cache/bin" "$cache/crds"

# One build at a time across processes (several test binaries may call this at once).
lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.lock"
    flock 9
  fi
}

# ---- binaries ----
# The API server reports the Kubernetes release it is built from (as a release build does, through
# the linker), not component-base's "v0.0.0-master": clients that parse it (prometheus-operator
# decides from it whether EndpointSlice discovery is supported) then see a real cluster's version.
kube="$(sed -n 's/^[[:space:]]*k8s\.io\/kubernetes \(v[0-9][0-9.]*\)$/\1/p' "$here/go.mod" | head -1)"
[ -n "$kube" ] || die "tests/harness/go.mod requires no k8s.io/kubernetes release"
kmajor="${kube#v}"
kminor="${kmajor#*.}"
kmajor="${kmajor%%.*}"
kminor="${kminor%%.*}"
vpkg="k8s.io/component-base/version"
ldflags="-s -w -X $vpkg.gitVersion=$kube -X $vpkg.gitMajor=$kmajor -X $vpkg.gitMinor=$kminor -X $vpkg.gitTreeState=clean"
key="$( (cat "$here/go.mod" "$here/go.sum" "$here/main.go"; go env GOVERSION; echo "$ldflags") | sha256sum | cut -c1-16)"
bindir="$cache/bin/$key"
if [ ! -x "$bindir/scrapepath-testenv" ] || [ ! -x "$bindir/kubectl" ]; then
  lock
  if [ ! -x "$bindir/scrapepath-testenv" ] || [ ! -x "$bindir/kubectl" ]; then
    say "building scrapepath-testenv and kubectl (k8s.io/kubernetes, etcd) into $bindir; a cold build takes a while"
    start=$(date +%s)
    (cd "$here" && go mod download) >&2 || die "could not download the harness's Go modules: $(proxy_hint)"
    tmp="$(mktemp -d "$cache/bin/.build.XXXXXX")"
    (cd "$here" && go build -ldflags="$ldflags" -o "$tmp/" . k8s.io/kubernetes/cmd/kubectl) >&2 ||
      { rm -rf "$tmp"; die "go build failed (see above)"; }
    rm -rf "$bindir"
    mv "$tmp" "$bindir"
    say "built in $(($(date +%s) - start))s"
    # Builds of other harness versions, a few weeks old, go (they are ~200 MB each).
    find "$cache/bin" -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -mtime +20 -exec rm -rf {} + 2>/dev/null || true
  fi
fi

# ---- upstream CRDs ----
modkey="$(printf '%s\n' "$PROMOP_MOD" "$CILIUM_MOD" "$ISTIO_MOD" | sha256sum | cut -c1-16)"
crddir="$cache/crds/$modkey"
if [ ! -f "$crddir/.complete" ]; then
  lock
  if [ ! -f "$crddir/.complete" ]; then
    say "fetching upstream CRDs: $PROMOP_MOD, $CILIUM_MOD, $ISTIO_MOD"
    moddir() {
      local json dir
      json="$(cd "$cache" && GOFLAGS= GOWORK=off GO111MODULE=on go mod download -json "$1")" || die "could not download $1: $(proxy_hint)"
      dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
      [ -n "$dir" ] && [ -d "$dir" ] || die "could not download $1: $(proxy_hint): $json"
      echo "$dir"
    }
    tmp="$(mktemp -d "$cache/crds/.fetch.XXXXXX")"
    mkdir -p "$tmp/prometheus-operator" "$tmp/cilium" "$tmp/istio"
    src="$(moddir "$PROMOP_MOD")/$PROMOP_DIR"
    cp "$src"/*.yaml "$tmp/prometheus-operator/"
    src="$(moddir "$CILIUM_MOD")/$CILIUM_DIR"
    cp "$src"/*.yaml "$tmp/cilium/"
    src="$(moddir "$ISTIO_MOD")/$ISTIO_FILE"
    # Keep the security.istio.io CRDs (AuthorizationPolicy, PeerAuthentication, RequestAuthentication)
    # of Istio's all-CRDs file: split on document separators, keep documents of that group.
    awk '
      function flush() { if (doc ~ /\n  group: security\.istio\.io\n/) printf "---\n%s", doc; doc = "" }
      /^---[[:space:]]*$/ { flush(); next }
      { doc = doc $0 "\n" }
      END { flush() }
    ' "$src" >"$tmp/istio/security.istio.io.yaml"
    grep -q 'name: authorizationpolicies.security.istio.io' "$tmp/istio/security.istio.io.yaml" ||
      die "no AuthorizationPolicy CRD found in $ISTIO_MOD $ISTIO_FILE"
    chmod -R u+w "$tmp"
    printf '%s\n' "$PROMOP_MOD" "$CILIUM_MOD" "$ISTIO_MOD" >"$tmp/SOURCES"
    touch "$tmp/.complete"
    rm -rf "$crddir"
    mv "$tmp" "$crddir"
  fi
fi

echo "TESTENV_BIN=$bindir/scrapepath-testenv"
echo "KUBECTL_BIN=$bindir/kubectl"
echo "CRD_DIR=$crddir"
