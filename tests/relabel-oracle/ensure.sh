#!/usr/bin/env bash
# Builds the relabeling oracle (relabel-oracle: Prometheus' own model/relabel, see main.go and README.md) and
# prints where it is, as a KEY=VALUE line on stdout (everything else goes to stderr):
#   RELABEL_ORACLE=/path/to/relabel-oracle
#
# Idempotent. The binary is built once and cached under
#   ${SCRAPEPATH_ORACLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath}/relabel-oracle/<key>/
# where <key> is the sha256 of main.go + go.mod + go.sum + this script + the Go version. The oracle is a
# module of its own that requires github.com/prometheus/prometheus (go.mod; it imports model/relabel,
# model/labels and discovery/kubernetes with client-go's fake clientset: a cold build takes a few minutes),
# and needs only Go (>= the "go" line of go.mod, no toolchain download) and the Go module proxy on a cold
# cache. One build at a time (flock).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

say() { echo "relabel-oracle/ensure.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOWORK=off
export GO111MODULE=on

need="$(sed -n 's/^go //p' "$here/go.mod")"
command -v go >/dev/null 2>&1 ||
  die "Go is missing: the relabeling oracle is built from the github.com/prometheus/prometheus Go module and needs the 'go' command on PATH (Go >= $need)"
gover="$(go env GOVERSION)"
gover="${gover#go}"
if [ "$(printf '%s\n%s\n' "$need" "$gover" | sort -V | head -1)" != "$need" ]; then
  die "Go $gover is too old for the relabeling oracle (go.mod needs Go >= $need, as github.com/prometheus/prometheus $(sed -n 's/^require github.com\/prometheus\/prometheus //p; s/^\tgithub.com\/prometheus\/prometheus //p' "$here/go.mod") does; GOTOOLCHAIN=local: no toolchain download)"
fi

base="${SCRAPEPATH_ORACLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath}"
cache="$base/relabel-oracle"
mkdir -p "$cache"
key="$( (cat "$here/main.go" "$here/go.mod" "$here/go.sum" "$here/ensure.sh"; echo "$gover") | sha256sum | cut -c1-16)"
dir="$cache/$key"
bin="$dir/relabel-oracle"

if [ ! -x "$bin" ]; then
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.lock"
    flock 9
  fi
  if [ ! -x "$bin" ]; then
    start=$(date +%s)
    say "building the relabeling oracle into $dir"
    tmp="$(mktemp -d "$cache/.build.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    (cd "$here" && go mod download) >&2 ||
      die "could not download the oracle's modules (github.com/prometheus/prometheus and its dependencies): the Go module proxy is not reachable or refused them (GOPROXY=$(go env GOPROXY))"
    (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$tmp/relabel-oracle" .) >&2 ||
      die "go build of the relabeling oracle failed (see above)"
    "$tmp/relabel-oracle" -version >/dev/null || die "the built oracle does not run"
    rm -rf "$dir"
    mkdir -p "$dir"
    mv "$tmp/relabel-oracle" "$bin"
    rm -rf "$tmp"
    trap - EXIT
    say "built in $(($(date +%s) - start))s"
    # Builds of older oracle sources, a few weeks old, go.
    find "$cache" -mindepth 1 -maxdepth 1 -type d -name '????????????????' -mtime +20 -exec rm -rf {} + 2>/dev/null || true
  fi
fi
touch "$dir" 2>/dev/null || true
echo "RELABEL_ORACLE=$bin"
