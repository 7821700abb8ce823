#!/usr/bin/env bash
# Makes the real prometheus-operator available for the integration tests and prints where it is, as a
# KEY=VALUE line on stdout (everything else goes to stderr):
#   PROMETHEUS_OPERATOR_BIN=  cmd/operator of github.com/prometheus-operator/prometheus-operator@$PROMOP_VERSION
#   PROMETHEUS_CONFIG_RELOADER_BIN=  cmd/prometheus-config-reloader of the same module (what the operator's
#                             StatefulSet runs beside Prometheus)
#
# Idempotent. The binary is built once and cached under
#   ${SCRAPEPATH_PROMOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/prometheus-operator}/<version>-<go version>/{operator,prometheus-config-reloader}
# Needs only Go and the Go module proxy. One build at a time across processes.
#
# Why not `go install ...@version`: the operator's go.mod replaces its two nested modules
# (pkg/apis/monitoring, pkg/client) by the directories ./pkg/apis/monitoring and ./pkg/client, and a module
# zip never holds nested modules, so `go install` refuses it ("contains replace directives") and a build in
# the unpacked module cannot find them. The build therefore runs in a writable copy of the module into
# which the two nested modules, downloaded at the same version from the proxy, are copied where the
# replace directives point.
set -euo pipefail

# The release the upstream CRDs of tests/harness/ensure.sh come from (PROMOP_MOD there).
PROMOP_VERSION="v0.91.0"
PROMOP_MOD="github.com/prometheus-operator/prometheus-operator"

say() { echo "prometheus/operator.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

if [ -n "${SCRAPEPATH_PROMETHEUS_OPERATOR_BIN:-}" ]; then
  [ -x "$SCRAPEPATH_PROMETHEUS_OPERATOR_BIN" ] || die "SCRAPEPATH_PROMETHEUS_OPERATOR_BIN=$SCRAPEPATH_PROMETHEUS_OPERATOR_BIN is not an executable file"
  reloader="$(dirname "$SCRAPEPATH_PROMETHEUS_OPERATOR_BIN")/prometheus-config-reloader"
  [ -x "$reloader" ] || die "no prometheus-config-reloader beside SCRAPEPATH_PROMETHEUS_OPERATOR_BIN ($reloader)"
  echo "PROMETHEUS_OPERATOR_BIN=$SCRAPEPATH_PROMETHEUS_OPERATOR_BIN"
  echo "PROMETHEUS_CONFIG_RELOADER_BIN=$reloader"
  exit 0
fi

export GOTOOLCHAIN=local
export GOFLAGS="-buildvcs=false"
export GOWORK=off

command -v go >/dev/null 2>&1 ||
  die "Go is missing: the tests build prometheus-operator $PROMOP_VERSION from its Go module and need the 'go' command on PATH"

cache="${SCRAPEPATH_PROMOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/prometheus-operator}"
dir="$cache/$PROMOP_VERSION-$(go env GOVERSION)"
mkdir -p "$cache"

moddir() {
  local json dir
  json="$(cd "$cache" && GO111MODULE=on go mod download -json "$1")" ||
    die "could not download $1 (the Go module proxy is $(go env GOPROXY)): $json"
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -n "$dir" ] && [ -d "$dir" ] || die "could not download $1: $json"
  echo "$dir"
}

built() { [ -x "$dir/operator" ] && [ -x "$dir/prometheus-config-reloader" ]; }

if ! built; then
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$cache/.lock"
    flock 9
  fi
  if ! built; then
    say "building prometheus-operator $PROMOP_VERSION (cmd/operator, cmd/prometheus-config-reloader) with $(go env GOVERSION) into $dir (once; takes a few minutes)"
    start=$(date +%s)
    tmp="$(mktemp -d "$cache/.build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    src="$tmp/src"
    cp -r "$(moddir "$PROMOP_MOD@$PROMOP_VERSION")" "$src"
    chmod -R u+w "$src"
    for nested in pkg/apis/monitoring pkg/client; do
      grep -q "$PROMOP_MOD/$nested => ./$nested" "$src/go.mod" ||
        die "$PROMOP_MOD@$PROMOP_VERSION's go.mod no longer replaces $nested by ./$nested: revisit this script"
      rm -rf "${src:?}/$nested"
      mkdir -p "$(dirname "$src/$nested")"
      cp -r "$(moddir "$PROMOP_MOD/$nested@$PROMOP_VERSION")" "$src/$nested"
      chmod -R u+w "$src/$nested"
    done
    mkdir -p "$tmp/out"
    (cd "$src" && go build -mod=mod -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${PROMOP_VERSION#v} -X github.com/prometheus/common/version.Revision=$PROMOP_VERSION" \
      -o "$tmp/out/" ./cmd/operator ./cmd/prometheus-config-reloader) >&2 ||
      die "building $PROMOP_MOD/cmd/operator and cmd/prometheus-config-reloader@$PROMOP_VERSION failed (see above; the Go module proxy is $(go env GOPROXY); GOTOOLCHAIN=local: no toolchain download)"
    "$tmp/out/operator" --version >/dev/null 2>&1 || die "the operator built into $tmp/out does not run"
    "$tmp/out/prometheus-config-reloader" --version >/dev/null 2>&1 || die "the config-reloader built into $tmp/out does not run"
    rm -rf "$dir"
    mv "$tmp/out" "$dir"
    say "built in $(($(date +%s) - start))s: $("$dir/operator" --version 2>&1 | head -1)"
  fi
fi

echo "PROMETHEUS_OPERATOR_BIN=$dir/operator"
echo "PROMETHEUS_CONFIG_RELOADER_BIN=$dir/prometheus-config-reloader"
