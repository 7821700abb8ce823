#!/usr/bin/env bash
# Makes `helm` (v3, built from its Go module) available for the chart tests and prints where it is, as a
# KEY=VALUE line on stdout (everything else goes to stderr):
#   HELM_BIN=  helm built with `go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION`
#
# Idempotent. The binary is built once and cached under
#   ${SCRAPEPATH_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/helm}/<version>-<go version>/helm
# Needs only Go and the Go module proxy (no release download). One build at a time across processes.
set -euo pipefail

# The pinned Helm release (a v3 the Go module proxy serves: `go list -m -versions helm.sh/helm/v3`).
HELM_VERSION="v3.21.4"

say() { echo "helm.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

export GOTOOLCHAIN=local
# Module mode for `go install pkg@version`; no workspace or vendoring of the caller applies.
export GOFLAGS="-buildvcs=false"
export GOWORK=off

if ! command -v go >/dev/null 2>&1; then
  die "Go is missing: the chart tests build helm $HELM_VERSION from its Go module and need the 'go' command on PATH"
fi

cache="${SCRAPEPATH_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/helm}"
dir="$cache/$HELM_VERSION-$(go env GOVERSION)"
mkdir -p "$cache"

if [ ! -x "$dir/helm" ]; then
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.lock"
    flock 9
  fi
  if [ ! -x "$dir/helm" ]; then
    say "building helm $HELM_VERSION with $(go env GOVERSION) into $dir (once; takes a few minutes)"
    start=$(date +%s)
    tmp="$(mktemp -d "$cache/.build.XXXXXX")"
    GOBIN="$tmp" go install \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2 ||
      { rm -rf "$tmp"; die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed (see above; the Go module proxy is $(go env GOPROXY); GOTOOLCHAIN=local: no toolchain download)"; }
    "$tmp/helm" version --short >/dev/null 2>&1 || { rm -rf "$tmp"; die "the helm built into $tmp does not run"; }
    rm -rf "$dir"
    mv "$tmp" "$dir"
    say "built in $(($(date +%s) - start))s: $("$dir/helm" version --short)"
  fi
fi

echo "HELM_BIN=$dir/helm"
