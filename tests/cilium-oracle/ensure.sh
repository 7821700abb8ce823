#!/usr/bin/env bash
# Builds the Cilium policy oracle (cilium-oracle, see README.md) for one or more Cilium releases and
# prints where each binary is, as KEY=VALUE lines on stdout (everything else goes to stderr):
#   CILIUM_ORACLE_1_19=/path/to/cilium-oracle      (one line per version, in argument order)
#
# usage: ensure.sh [VERSION...]     VERSION like v1.19.7 or 1.19 (a minor means its pinned patch);
#                                   default: every pinned version below.
#
# Idempotent. Each binary is built once and cached under
#   ${SCRAPEPATH_ORACLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/cilium-oracle}/<version>-<key>/
# where <key> is the sha256 of the oracle's sources (*.go, inject/, this script) + the Go version. Cilium's go.mod has replace
# directives, so the oracle cannot be a module that requires Cilium: it is built inside a writable
# copy of github.com/cilium/cilium@<version> from the module cache (the module zip has no vendor/, so
# the dependencies come from the Go module proxy), with the oracle's package copied into it.
# Needs only Go (>= the release's go.mod "go" line) and the Go module proxy. Builds run one at a
# time (flock), one version after the other.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# The newest patch of each minor whose .mod and .zip the proxy serves (newer patches: 403).
PINNED=(v1.15.19 v1.16.19 v1.17.17 v1.18.11 v1.19.7 v1.20.2)

say() { echo "ensure.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOWORK=off
export GO111MODULE=on

command -v go >/dev/null 2>&1 ||
  die "Go is missing: the Cilium oracle is built from Cilium's Go module and needs the 'go' command on PATH (Go >= 1.26 for Cilium v1.20)"
gover="$(go env GOVERSION)"
gover="${gover#go}"

proxy_hint() {
  echo "the Go module proxy is not reachable or refused the download (GOPROXY=$(go env GOPROXY))"
}

cache="${SCRAPEPATH_ORACLE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/cilium-oracle}"
mkdir -p "$cache"

lock() {
  if command -v flock >/dev/null 2>&1 && [ -z "${_ORACLE_LOCKED:-}" ]; then
    exec 9>"$cache/.lock"
    flock 9
    _ORACLE_LOCKED=1
  fi
}

# Versions to build.
versions=()
if [ $# -eq 0 ]; then
  versions=("${PINNED[@]}")
else
  for a in "$@"; do
    a="v${a#v}"
    case "$a" in
    v1.[0-9]*.[0-9]*) versions+=("$a") ;;
    v1.[0-9]*)
      found=""
      for p in "${PINNED[@]}"; do
        case "$p" in "$a".*) found="$p" ;; esac
      done
      [ -n "$found" ] || die "no pinned patch release for Cilium $a (pinned: ${PINNED[*]})"
      versions+=("$found")
      ;;
    *) die "not a Cilium version: $1 (expected e.g. v1.19.7 or 1.19)" ;;
    esac
  done
fi

# The oracle's sources: every .go file here (the engine of each release is picked by build tag).
srcs=("$here"/*.go)
key="$( (cat "${srcs[@]}" "$here"/ensure.sh; find "$here/inject" -type f -name '*.go.in' -print0 | sort -z | xargs -0 -r cat; echo "$gover") | sha256sum | cut -c1-16)"

build() { # version -> prints the binary's path
  local v="$1" minor tag dir bin json moddir need tmp start
  minor="${v#v}"
  minor="${minor%.*}"               # 1.19
  tag="cilium_${minor//./_}"        # cilium_1_19
  [ -n "$(grep -l "^//go:build .*\b$tag\b" "$here"/engine_*.go 2>/dev/null)" ] ||
    die "no engine for Cilium $minor in $here (engine_*.go with build tag $tag)"
  dir="$cache/$v-$key"
  bin="$dir/cilium-oracle"
  if [ ! -x "$bin" ]; then
    lock
    if [ ! -x "$bin" ]; then
      start=$(date +%s)
      say "building the Cilium $v oracle into $dir (a cold build compiles much of Cilium: minutes)"
      json="$(cd "$cache" && GOFLAGS= go mod download -json "github.com/cilium/cilium@$v" 2>&1)" ||
        die "could not download github.com/cilium/cilium@$v: $(proxy_hint): $json"
      moddir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
      [ -n "$moddir" ] && [ -d "$moddir" ] || die "could not download github.com/cilium/cilium@$v: $(proxy_hint): $json"
      need="$(sed -n 's/^go //p' "$moddir/go.mod")"
      if [ "$(printf '%s\n%s\n' "$need" "$gover" | sort -V | head -1)" != "$need" ]; then
        die "Go $gover is too old for Cilium $v (its go.mod needs Go >= $need; GOTOOLCHAIN=local: no toolchain download)"
      fi
      tmp="$(mktemp -d "$cache/.build.$v.XXXXXX")"
      # shellcheck disable=SC2064
      trap "rm -rf '$tmp'" EXIT
      cp -R "$moddir" "$tmp/src"
      chmod -R u+w "$tmp/src"
      mkdir "$tmp/src/scrapepath-oracle"
      cp "${srcs[@]}" "$tmp/src/scrapepath-oracle/"
      # Small helpers of ours that some releases need inside Cilium's packages (see inject/).
      if [ -d "$here/inject/$minor" ]; then
        for f in "$here/inject/$minor"/*.go.in; do
          cp "$f" "$tmp/src/pkg/policy/$(basename "${f%.in}")"
        done
      fi
      if [ -d "$tmp/src/vendor" ] && [ -z "$(find "$tmp/src/vendor" -mindepth 1 -maxdepth 1 -type d -print -quit)" ]; then
        # Module zips drop vendored packages; some keep vendor/modules.txt alone (1.15), which
        # would make go build use -mod=vendor: drop it, the dependencies come from the proxy.
        rm -rf "$tmp/src/vendor"
      fi
      if [ -d "$tmp/src/vendor" ]; then
        export GOFLAGS="-mod=vendor -buildvcs=false"
      elif grep -q '^replace k8s.io/apimachinery => github.com/cilium/apimachinery\|^[[:space:]]*k8s.io/apimachinery => github.com/cilium/apimachinery' "$tmp/src/go.mod"; then
        # Cilium 1.16-1.18 replace k8s.io/apimachinery by a fork (patched for `omitzero` in the
        # unstructured converters) that the Go module proxy does not serve (403). The policy
        # engine does not use those converters: build against the upstream version Cilium
        # requires instead (go.sum gets its hashes, checked against the checksum database).
        say "Cilium $v: using upstream k8s.io/apimachinery $(sed -n 's/^[[:space:]]*k8s.io\/apimachinery \(v[^ ]*\)$/\1/p' "$tmp/src/go.mod") instead of Cilium's fork (not on the proxy)"
        (cd "$tmp/src" && go mod edit -dropreplace=k8s.io/apimachinery)
        export GOFLAGS="-mod=mod -buildvcs=false"
      fi
      mkdir -p "$tmp/out"
      (cd "$tmp/src" && go build -tags "$tag" -trimpath -ldflags "-s -w -X main.ciliumVersion=$v" \
        -o "$tmp/out/cilium-oracle" ./scrapepath-oracle) >&2 ||
        die "go build of the Cilium $v oracle failed (see above; a missing module means $(proxy_hint))"
      export GOFLAGS="-mod=readonly -buildvcs=false"
      "$tmp/out/cilium-oracle" -version >/dev/null || die "the built oracle does not run"
      rm -rf "$dir"
      mv "$tmp/out" "$dir"
      rm -rf "$tmp"
      trap - EXIT
      say "built Cilium $v oracle in $(($(date +%s) - start))s"
      # Builds of older oracle sources, a few weeks old, go.
      find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'v*-*' -mtime +20 -exec rm -rf {} + 2>/dev/null || true
    fi
  fi
  touch "$dir" 2>/dev/null || true # in use: keep it from the clean-up below
  echo "$bin"
}

for v in "${versions[@]}"; do
  bin="$(build "$v")"
  minor="${v#v}"
  minor="${minor%.*}"
  echo "CILIUM_ORACLE_${minor//./_}=$bin"
done
