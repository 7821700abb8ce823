#!/usr/bin/env bash
# Builds the Istio sidecar-injector oracle (istio-inject-oracle, see README.md) and prints where it is,
# as a KEY=VALUE line on stdout (everything else goes to stderr):
#   ISTIO_INJECT_ORACLE=/path/to/istio-inject-oracle
#
# Idempotent. The binary is built once and cached under
#   ${SCRAPEPATH_ORACLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath}/istio-inject-oracle/<key>/
# where <key> is the sha256 of main.go + go.mod + go.sum + this script + the Go version. The oracle is a
# module of its own that requires istio.io/istio (go.mod; Istio's go.mod has no replace directives), so
# it needs only Go (>= the "go" line of go.mod) and the Go module proxy. One build at a time (flock).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

say() { echo "istio-inject-oracle/ensure.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOWORK=off
export GO111MODULE=on

command -v go >/dev/null 2>&1 ||
  die "Go is missing: the Istio injector oracle is built from the istio.io/istio Go module and needs the 'go' command on PATH (Go >= $(sed -n 's/^go //p' "$here/go.mod"))"
gover="$(go env GOVERSION)"
gover="${gover#go}"
need="$(sed -n 's/^go //p' "$here/go.mod")"
if [ "$(printf '%s\n%s\n' "$need" "$gover" | sort -V | head -1)" != "$need" ]; then
  die "Go $gover is too old for the Istio injector oracle (go.mod needs Go >= $need; GOTOOLCHAIN=local: no toolchain download)"
fi

base="${SCRAPEPATH_ORACLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath}"
cache="$base/istio-inject-oracle"
mkdir -p "$cache"
key="$( (cat "$here/main.go" "$here/go.mod" "$here/go.sum" "$here/ensure.sh"; echo "$gover") | sha256sum | cut -c1-16)"
dir="$cache/$key"
bin="$dir/istio-inject-oracle"

if [ ! -x "$bin" ]; then
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.lock"
    flock 9
  fi
  if [ ! -x "$bin" ]; then
    start=$(date +%s)
    say "building the Istio injector oracle into $dir (a cold build compiles much of Istio: many minutes)"
    tmp="$(mktemp -d "$cache/.build.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    (cd "$here" && go mod download) >&2 ||
      die "could not download the oracle's modules (istio.io/istio and its dependencies): the Go module proxy is not reachable or refused them (GOPROXY=$(go env GOPROXY))"
    (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$tmp/istio-inject-oracle" .) >&2 ||
      die "go build of the Istio injector oracle failed (see above)"
    "$tmp/istio-inject-oracle" -version >/dev/null || die "the built oracle does not run"
    rm -rf "$dir"
    mkdir -p "$dir"
    mv "$tmp/istio-inject-oracle" "$bin"
    rm -rf "$tmp"
    trap - EXIT
    say "built in $(($(date +%s) - start))s"
    # Builds of older oracle sources, a few weeks old, go.
    find "$cache" -mindepth 1 -maxdepth 1 -type d -name '????????????????' -mtime +20 -exec rm -rf {} + 2>/dev/null || true
  fi
fi
touch "$dir" 2>/dev/null || true
echo "ISTIO_INJECT_ORACLE=$bin"
