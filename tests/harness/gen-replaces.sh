#!/usr/bin/env bash
# Generates the go.mod `replace` directives that point every k8s.io staging module that
# k8s.io/kubernetes replaces with a local ./staging/src path at its published v0.MINOR.PATCH version.
# Usage: gen-replaces.sh [KUBERNETES_VERSION]   (default: the version required in ./go.mod)
# Applies them to ./go.mod with `go mod edit`; prints them too.
set -euo pipefail
cd "$(dirname "$0")"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

kver="${1:-}"
if [ -z "$kver" ]; then
  kver="$(go list -m -f '{{.Version}}' k8s.io/kubernetes 2>/dev/null || true)"
fi
if [ -z "$kver" ]; then
  echo "gen-replaces: pass a k8s.io/kubernetes version (e.g. v1.36.4) or require it in go.mod" >&2
  exit 2
fi
staging="v0.${kver#v1.}"

gomod="$(go mod download -json "k8s.io/kubernetes@$kver" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
if [ ! -f "$gomod" ]; then
  echo "gen-replaces: could not download the go.mod of k8s.io/kubernetes@$kver" >&2
  exit 1
fi

# Every `k8s.io/X => ./staging/src/k8s.io/X` line, inside or outside a replace ( ... ) block.
mods="$(sed -n 's#^[[:space:]]*\(replace[[:space:]]\{1,\}\)\{0,1\}\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\2#p' "$gomod" | sort -u)"
if [ -z "$mods" ]; then
  echo "gen-replaces: no staging replaces found in $gomod" >&2
  exit 1
fi
args=()
for m in $mods; do
  args+=("-replace=$m=$m@$staging")
  echo "$m => $m $staging"
done
go mod edit "${args[@]}"
