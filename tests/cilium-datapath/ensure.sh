#!/usr/bin/env bash
# Makes the real Cilium datapath available for the datapath tests (issue 18) and prints where it is,
# as KEY=VALUE lines on stdout (everything else goes to stderr):
#   CILIUM_AGENT=   cilium-agent (./daemon of github.com/cilium/cilium@$CILIUM_VERSION)
#   CILIUM_CNI=     cilium-cni   (./plugins/cilium-cni)
#   CILIUM_DBG=     cilium-dbg   (./cilium-dbg)
#   CILIUM_LIB_DIR= the agent's --lib-dir: it holds bpf/, the datapath's C sources, which the agent
#                   compiles at run time (the agent's --bpf-root is bpffs, not this)
#   CILIUM_CRD_DIR= the CRDs of the same release (pkg/k8s/apis/cilium.io/client/crds/{v2,v2alpha1})
#   CLANG=          the clang the agent runs (it runs "clang" from PATH: put CLANG_DIR first)
#   CLANG_DIR=      the directory of that clang, named "clang" as the agent runs it (PATH)
#   NSFORWARD=      nsforward (./nsforward): the test API server's address inside the scenario's netns
#
# usage: ensure.sh [--build-only]   --build-only: build and cache, skip the host checks
#                                   (root, bpffs, BTF, clang) and the CLANG lines.
# The host checks come first (cheap); every failure says what is missing, on stderr, exit 1.
#
# Idempotent. The binaries are built once and cached under
#   ${SCRAPEPATH_DATAPATH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/cilium-datapath}/<cilium version>-go<go version>-r<RECIPE>/
# Cilium's go.mod has replace directives, so `go install …@version` is impossible: the binaries are
# built inside a writable copy of github.com/cilium/cilium@<version> from the module cache (the
# module zip has no vendor/: the dependencies come from the Go module proxy), as
# tests/cilium-oracle/ensure.sh does. A cold build takes minutes (about 6 on 2 cores). Builds run one at a
# time (flock).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
CILIUM_VERSION="${CILIUM_VERSION:-v1.19.7}"
# Bump when the build recipe below changes in a way that changes the binaries.
RECIPE=1
# Debian's clang of the LLVM release Cilium's images use.
LLVM_MAJOR=19

say() { echo "cilium-datapath/ensure.sh: $*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}

build_only=""
for a in "$@"; do
  case "$a" in
  --build-only) build_only=1 ;;
  *) die "unknown argument: $a (usage: ensure.sh [--build-only])" ;;
  esac
done

export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOWORK=off
export GO111MODULE=on

command -v go >/dev/null 2>&1 ||
  die "Go is missing: the Cilium agent is built from Cilium's Go module and needs the 'go' command on PATH"
gover="$(go env GOVERSION)"
gover="${gover#go}"

proxy_hint() {
  echo "the Go module proxy is not reachable or refused the download (GOPROXY=$(go env GOPROXY))"
}

cache="${SCRAPEPATH_DATAPATH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scrapepath/cilium-datapath}"
mkdir -p "$cache"

locked=""
lock() {
  if command -v flock >/dev/null 2>&1 && [ -z "$locked" ]; then
    exec 9>"$cache/.lock"
    flock 9
    locked=1
  fi
}

dir="$cache/$CILIUM_VERSION-go$gover-r$RECIPE"

# ---- the host: root, BPF, clang ---- (first: they are cheap, the build is not)
clang_dir="/usr/lib/llvm-$LLVM_MAJOR/bin"
if [ -z "$build_only" ]; then
  [ "$(id -u)" = 0 ] ||
    die "not root (uid $(id -u)): the Cilium agent loads BPF programs, creates network namespaces and mounts bpffs; run the datapath tests as root"
  [ -r /sys/kernel/btf/vmlinux ] ||
    die "no kernel BTF (/sys/kernel/btf/vmlinux is missing): the Cilium $CILIUM_VERSION datapath needs a kernel built with CONFIG_DEBUG_INFO_BTF"
  command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is missing: the scenarios run in their own mount and network namespaces"
  command -v ip >/dev/null 2>&1 || die "ip (iproute2) is missing: the scenarios create veth links and network namespaces"
  # bpffs must be mountable: try it in a throwaway mount namespace (the host's mounts are untouched).
  if ! out="$(unshare --mount --propagation private sh -c 'mount -t bpf bpf /sys/fs/bpf' 2>&1)"; then
    die "cannot mount bpffs (mount -t bpf bpf /sys/fs/bpf in a private mount namespace: $out): the kernel lacks CONFIG_BPF_SYSCALL or this is an unprivileged container"
  fi

  # What the scenarios run besides the Cilium binaries: clang (the agent compiles its BPF programs
  # at run time), jq (reading cilium-dbg's JSON), Perl (pods.sh's listeners and probes), setpriv and
  # nsenter (util-linux), iptables (an agent run with --install-iptables-rules=true, as the datapath
  # differential runs it: its rules mark the node's own packets as the host identity's; they live in
  # the scenario's network namespace). Installed with apt-get where missing.
  missing_pkgs() {
    [ -x "$clang_dir/clang" ] || echo "clang-$LLVM_MAJOR"
    command -v jq >/dev/null 2>&1 || echo jq
    command -v perl >/dev/null 2>&1 || echo perl-base
    { command -v setpriv && command -v nsenter; } >/dev/null 2>&1 || echo util-linux
    command -v iptables >/dev/null 2>&1 || echo iptables
  }
  if [ -n "$(missing_pkgs)" ]; then
    lock
    pkgs="$(missing_pkgs | tr '\n' ' ')"
    if [ -n "${pkgs// /}" ]; then
      command -v apt-get >/dev/null 2>&1 ||
        die "missing: $pkgs and there is no apt-get to install them (clang $LLVM_MAJOR: the agent compiles its BPF programs with it at run time; jq, perl, setpriv, nsenter, iptables: the scenarios)"
      say "installing Debian's $pkgs"
      # shellcheck disable=SC2086
      { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $pkgs; } >&2 ||
        die "apt-get install $pkgs failed (see above)"
      [ -z "$(missing_pkgs)" ] || die "still missing after apt-get install: $(missing_pkgs | tr '\n' ' ')"
    fi
  fi
  "$clang_dir/clang" --version >/dev/null 2>&1 || die "$clang_dir/clang does not run: $("$clang_dir/clang" --version 2>&1 | tail -3)"
  targets="$("$clang_dir/clang" -print-targets 2>&1)" || true
  printf '%s\n' "$targets" | grep -q '^[[:space:]]*bpf[[:space:]]' || die "$clang_dir/clang has no BPF target"
fi

# ---- binaries (and the bpf/ sources and CRDs, copied from the same module) ----
if [ ! -f "$dir/.complete" ]; then
  lock
  if [ ! -f "$dir/.complete" ]; then
    start=$(date +%s)
    say "building cilium-agent, cilium-cni and cilium-dbg $CILIUM_VERSION (Go $gover) into $dir; a cold build compiles most of Cilium: minutes"
    json="$(cd "$cache" && GOFLAGS= go mod download -json "github.com/cilium/cilium@$CILIUM_VERSION" 2>&1)" ||
      die "could not download github.com/cilium/cilium@$CILIUM_VERSION: $(proxy_hint): $json"
    moddir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
    [ -n "$moddir" ] && [ -d "$moddir" ] || die "could not download github.com/cilium/cilium@$CILIUM_VERSION: $(proxy_hint): $json"
    need="$(sed -n 's/^go //p' "$moddir/go.mod")"
    if [ "$(printf '%s\n%s\n' "$need" "$gover" | sort -V | head -1)" != "$need" ]; then
      die "Go $gover is too old for Cilium $CILIUM_VERSION (its go.mod needs Go >= $need; GOTOOLCHAIN=local: no toolchain download)"
    fi
    tmp="$(mktemp -d "$cache/.build.$CILIUM_VERSION.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    cp -R "$moddir" "$tmp/src"
    chmod -R u+w "$tmp/src"
    if [ -d "$tmp/src/vendor" ] && [ -z "$(find "$tmp/src/vendor" -mindepth 1 -maxdepth 1 -type d -print -quit)" ]; then
      rm -rf "$tmp/src/vendor" # a lone vendor/modules.txt would force -mod=vendor
    fi
    mkdir -p "$tmp/out/lib"
    # As Cilium's Makefile.defs builds them: CGO off, tag osusergo, the version stamped in.
    (cd "$tmp/src" && CGO_ENABLED=0 go build -tags osusergo -trimpath \
      -ldflags "-s -w -X github.com/cilium/cilium/pkg/version.ciliumVersion=${CILIUM_VERSION#v}" \
      -o "$tmp/out/" ./daemon ./plugins/cilium-cni ./cilium-dbg) >&2 ||
      die "go build of cilium-agent/cilium-cni/cilium-dbg $CILIUM_VERSION failed (see above; a missing module means $(proxy_hint))"
    mv "$tmp/out/daemon" "$tmp/out/cilium-agent"
    for b in cilium-agent cilium-cni cilium-dbg; do
      [ -x "$tmp/out/$b" ] || die "go build did not produce $b"
    done
    "$tmp/out/cilium-agent" --version >/dev/null 2>&1 || die "the built cilium-agent does not run: $("$tmp/out/cilium-agent" --version 2>&1 | tail -3)"
    # The datapath's C sources, compiled by the agent at run time from <lib-dir>/bpf.
    cp -R "$tmp/src/bpf" "$tmp/out/lib/bpf"
    # The CRDs of the same release (the harness's CRD_DIR has v1.19.3's v2 only).
    mkdir -p "$tmp/out/crds"
    cp -R "$tmp/src/pkg/k8s/apis/cilium.io/client/crds/." "$tmp/out/crds/"
    chmod -R u+w "$tmp/out"
    printf '%s\n' "github.com/cilium/cilium@$CILIUM_VERSION" "go$gover" >"$tmp/out/SOURCES"
    touch "$tmp/out/.complete"
    rm -rf "$dir"
    mv "$tmp/out" "$dir"
    rm -rf "$tmp"
    trap - EXIT
    say "built in $(($(date +%s) - start))s"
    # Builds of other versions, a few weeks old, go (they are ~400 MB each).
    find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'v*' -mtime +20 -exec rm -rf {} + 2>/dev/null || true
  fi
fi
touch "$dir" 2>/dev/null || true

# ---- nsforward: the test API server (host loopback) inside the scenario's network namespace ----
fwkey="$( (cat "$here/nsforward/main.go"; echo "$gover") | sha256sum | cut -c1-16)"
fwbin="$cache/nsforward-$fwkey/nsforward"
if [ ! -x "$fwbin" ]; then
  lock
  if [ ! -x "$fwbin" ]; then
    fwtmp="$(mktemp -d "$cache/.nsforward.XXXXXX")"
    (cd "$here/nsforward" && CGO_ENABLED=0 go build -trimpath -o "$fwtmp/nsforward" main.go) >&2 ||
      { rm -rf "$fwtmp"; die "go build of nsforward failed (see above)"; }
    rm -rf "$cache/nsforward-$fwkey"
    mv "$fwtmp" "$cache/nsforward-$fwkey"
  fi
fi


echo "CILIUM_AGENT=$dir/cilium-agent"
echo "CILIUM_CNI=$dir/cilium-cni"
echo "CILIUM_DBG=$dir/cilium-dbg"
echo "CILIUM_LIB_DIR=$dir/lib"
echo "CILIUM_CRD_DIR=$dir/crds"
echo "NSFORWARD=$fwbin"
if [ -z "$build_only" ]; then
  echo "CLANG=$clang_dir/clang"
  echo "CLANG_DIR=$clang_dir"
fi
