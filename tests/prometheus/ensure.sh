#!/usr/bin/env bash
# Makes a real Prometheus server available for the observed-health integration tests and prints where it
# is, as a KEY=VALUE line on stdout (everything else goes to stderr):
#   PROMETHEUS_BIN=  the Debian package's `prometheus` binary
#
# Idempotent. When no `prometheus` binary is found (SCRAPEPATH_PROMETHEUS_BIN, then PATH, then
# /usr/bin/prometheus), installs Debian's `prometheus` package with apt-get (needs root, as on CI's fresh
# Debian machine). The package's own systemd service does not matter: the tests start their own process
# with their own configuration, storage in a temp dir and a loopback listen address. Fails with a clear
# message when nothing works: the tests that need Prometheus are never skipped.
set -euo pipefail

say() { echo "prometheus/ensure.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

found() {
  local bin="$1"
  local version
  if ! version="$("$bin" --version 2>&1 | head -1)"; then
    die "$bin does not run: $version"
  fi
  say "using $bin ($version)"
  echo "PROMETHEUS_BIN=$bin"
  exit 0
}

if [ -n "${SCRAPEPATH_PROMETHEUS_BIN:-}" ]; then
  [ -x "$SCRAPEPATH_PROMETHEUS_BIN" ] || die "SCRAPEPATH_PROMETHEUS_BIN=$SCRAPEPATH_PROMETHEUS_BIN is not an executable file"
  found "$SCRAPEPATH_PROMETHEUS_BIN"
fi
if bin="$(command -v prometheus 2>/dev/null)"; then
  found "$bin"
fi
if [ -x /usr/bin/prometheus ]; then
  found /usr/bin/prometheus
fi

command -v apt-get >/dev/null 2>&1 ||
  die "no prometheus binary, and no apt-get to install Debian's 'prometheus' package: install Prometheus (>= 2.x) or set SCRAPEPATH_PROMETHEUS_BIN"
[ "$(id -u)" = 0 ] ||
  die "no prometheus binary, and installing Debian's 'prometheus' package needs root: run 'apt-get install prometheus' as root or set SCRAPEPATH_PROMETHEUS_BIN"

# One install at a time across processes (several test binaries may call this at once).
lockfile="${TMPDIR:-/tmp}/scrapepath-prometheus-ensure.lock"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$lockfile"
  flock 9
  # Another process may have installed it while we waited.
  [ -x /usr/bin/prometheus ] && found /usr/bin/prometheus
fi

say "installing Debian's prometheus package (apt-get update, then install)"
export DEBIAN_FRONTEND=noninteractive
# Never start the package's service: the tests run their own Prometheus (policy-rc.d is how Debian's
# maintainer scripts are told not to start services; it is removed again when done).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  own_policy=1
fi
cleanup() { if [ "$own_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
apt-get update -qq >&2 || die "apt-get update failed: Debian's package archive is not reachable"
apt-get install -y -qq --no-install-recommends prometheus >&2 ||
  die "apt-get install prometheus failed (see above)"
[ -x /usr/bin/prometheus ] || die "the prometheus package installed, but /usr/bin/prometheus is missing"
found /usr/bin/prometheus
