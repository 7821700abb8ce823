#!/usr/bin/env bash
# Makes a real Prometheus server (3.x, with Kubernetes service discovery) available for the observed-health
# integration tests and prints where it is, as a KEY=VALUE line on stdout (everything else goes to stderr):
#   PROMETHEUS_BIN=  prometheus built with `go install github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION`
#
# Idempotent. The binary is built once and cached under
#   ${SCRAPEPATH_PROMETHEUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/prometheus}/<version>-<go version>/prometheus
# Needs only Go and the Go module proxy (no release download, no distribution package). One build at a time
# across processes. SCRAPEPATH_PROMETHEUS_BIN=<path> uses a prebuilt binary instead (it must be Prometheus
# >= 3: the tests use Kubernetes service discovery and the v1 targets API). The tests that need Prometheus
# are never skipped: this fails with a clear message when nothing works.
#
# No web UI assets: without the `builtinassets` build tag Prometheus serves its UI from the source tree's
# web/ui/static directory, which the module cache does not hold; the tests use only the HTTP API.
# Only the service discoveries the tests use are compiled in (Prometheus' own plugin build tags:
# `remove_all_sd` drops every SD plugin, `enable_<name>_sd` brings one back; static and file SD are always
# in): Kubernetes, the one prometheus-operator generates. That leaves out the cloud SDKs (AWS, Azure, GCE,
# ...) and their module downloads.
set -euo pipefail

# The pinned Prometheus release, as the Go module proxy knows it (Prometheus 3.N.M is module version
# v0.3NN.M). v0.316.0 is the newest v0.316 patch the proxy serves: `go list -m -versions` lists no later
# one, and v0.316.1..v0.316.4 are refused with 403 Forbidden.
PROMETHEUS_VERSION="v0.316.0"
PROMETHEUS_MOD="github.com/prometheus/prometheus"
# The cache directory is keyed by version and Go version only: a change of these tags needs the cached
# binary removed (rm -rf ~/.cache/scrapepath/prometheus).
PROMETHEUS_TAGS="remove_all_sd,enable_kubernetes_sd"

say() { echo "prometheus/ensure.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

check() {
  local bin="$1" version
  version="$("$bin" --version 2>&1 | head -1)" || die "$bin does not run: $version"
  case "$version" in
  "prometheus, version "[3-9].*) ;;
  *) die "$bin is not Prometheus >= 3 ($version): the tests need Kubernetes service discovery" ;;
  esac
  say "using $bin ($version)"
}

if [ -n "${SCRAPEPATH_PROMETHEUS_BIN:-}" ]; then
  [ -x "$SCRAPEPATH_PROMETHEUS_BIN" ] || die "SCRAPEPATH_PROMETHEUS_BIN=$SCRAPEPATH_PROMETHEUS_BIN is not an executable file"
  check "$SCRAPEPATH_PROMETHEUS_BIN"
  echo "PROMETHEUS_BIN=$SCRAPEPATH_PROMETHEUS_BIN"
  exit 0
fi

export GOTOOLCHAIN=local
# Module mode for `go install pkg@version`; no workspace or vendoring of the caller applies.
export GOFLAGS="-buildvcs=false"
export GOWORK=off

command -v go >/dev/null 2>&1 ||
  die "Go is missing: the observed-health tests build Prometheus $PROMETHEUS_VERSION from its Go module and need the 'go' command on PATH"

cache="${SCRAPEPATH_PROMETHEUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/prometheus}"
dir="$cache/$PROMETHEUS_VERSION-$(go env GOVERSION)"
mkdir -p "$cache"

if [ ! -x "$dir/prometheus" ]; then
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.lock"
    flock 9
  fi
  if [ ! -x "$dir/prometheus" ]; then
    say "building Prometheus $PROMETHEUS_VERSION with $(go env GOVERSION) into $dir (once; a cold build takes 2-4 minutes on 2 cores)"
    start=$(date +%s)
    tmp="$(mktemp -d "$cache/.build.XXXXXX")"
    # The version stamp Prometheus prints (`--version`, build_info): 3.N.M from module version v0.3NN.M.
    minor="${PROMETHEUS_VERSION#v0.3}"
    release="3.$((10#${minor%%.*})).${minor#*.}"
    GOBIN="$tmp" go install -tags "$PROMETHEUS_TAGS" \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release -X github.com/prometheus/common/version.Revision=$PROMETHEUS_VERSION" \
      "$PROMETHEUS_MOD/cmd/prometheus@$PROMETHEUS_VERSION" >&2 ||
      { rm -rf "$tmp"; die "go install $PROMETHEUS_MOD/cmd/prometheus@$PROMETHEUS_VERSION failed (see above; the Go module proxy is $(go env GOPROXY); GOTOOLCHAIN=local: no toolchain download)"; }
    "$tmp/prometheus" --version >/dev/null 2>&1 || { rm -rf "$tmp"; die "the prometheus built into $tmp does not run"; }
    rm -rf "$dir"
    mv "$tmp" "$dir"
    say "built in $(($(date +%s) - start))s: $("$dir/prometheus" --version 2>&1 | head -1)"
  fi
fi

check "$dir/prometheus"
echo "PROMETHEUS_BIN=$dir/prometheus"
