#!/usr/bin/env bash
# Build the Go tools pinned in tool modules into one directory, reusing binaries cached
# outside the clone, so a fresh clone on the same machine builds nothing.
#
#   scripts/go-tools.sh OUT_DIR MODULE_DIR...
#
# A tool module is a directory with a go.mod whose `tool` lines name the commands to
# build, its go.sum, and optionally:
#   ldflags  extra -ldflags, one flag per line (e.g. -X version variables)
#   files    lines "<module path> <file in that module>": copied to OUT_DIR/share/<name>/
# Results:
#   OUT_DIR/bin/<command>          every `tool` command of every module
#   OUT_DIR/share/<name>/<file>    the listed files (<name> = the module directory's name)
# Cache: $WASTELAND_GO_TOOLS_CACHE, default ${XDG_CACHE_HOME:-$HOME/.cache}/hosted-wasteland/go-tools,
# one directory per module and key; the key hashes every file of the module directory,
# this script's recipe version and the Go toolchain (version, GOOS, GOARCH).
set -euo pipefail

RECIPE=1 # bump when the way binaries are built changes, so cached ones are rebuilt

if [[ $# -lt 2 ]]; then
  echo "usage: $0 OUT_DIR MODULE_DIR..." >&2
  exit 2
fi
if ! command -v go >/dev/null 2>&1; then
  echo "go-tools: the Go toolchain (go) is not installed" >&2
  exit 3
fi

out=$(realpath -m "$1")
shift
cache_root=${WASTELAND_GO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hosted-wasteland/go-tools}
mkdir -p "$cache_root" "$out/bin" "$out/.stamps"

# Never let the caller's environment change what is built: the pinned go.sum is the
# truth (-mod=readonly), no toolchain download, static binaries, no VCS stamping.
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
toolchain="$(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"

module_key() {
  local dir=$1
  {
    echo "recipe $RECIPE"
    echo "toolchain $toolchain"
    (cd "$dir" && find . -type f -print | LC_ALL=C sort | while read -r f; do
      echo "$f $(sha256sum <"$f" | cut -d' ' -f1)"
    done)
  } | sha256sum | cut -c1-20
}

build_module() { # dir name dest
  local dir=$1 name=$2 dest=$3 tmp ldflags="-s -w" line modpath file moddir
  tmp=$(mktemp -d "$cache_root/.build-$name-XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  if [[ -f $dir/ldflags ]]; then
    while read -r line; do
      [[ -z $line || $line == \#* ]] || ldflags+=" $line"
    done <"$dir/ldflags"
  fi
  echo "go-tools: building $name with $toolchain (a first build takes minutes)" >&2
  mkdir -p "$tmp/bin"
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$tmp/bin/" tool)
  if [[ -f $dir/files ]]; then
    mkdir -p "$tmp/share/$name"
    while read -r modpath file; do
      [[ -z $modpath || $modpath == \#* ]] && continue
      moddir=$(cd "$dir" && go mod download -json "$modpath" >/dev/null && go list -m -f '{{.Dir}}' "$modpath")
      cp "$moddir/$file" "$tmp/share/$name/"
    done <"$dir/files"
  fi
  chmod -R a-w "$tmp"/*
  chmod 755 "$tmp"
  # Another build of the same key may have finished first; either result is the same.
  mv -T "$tmp" "$dest" 2>/dev/null || true
}

install_from() { # cached dir -> $out, by hard link (same file system) or copy
  local src=$1 f target
  (cd "$src" && find . -type f -print) | while read -r f; do
    target="$out/${f#./}"
    mkdir -p "$(dirname "$target")"
    rm -f "$target"
    ln "$src/$f" "$target" 2>/dev/null || cp "$src/$f" "$target"
  done
}

for dir in "$@"; do
  dir=$(realpath "$dir")
  name=$(basename "$dir")
  [[ -f $dir/go.mod && -f $dir/go.sum ]] || { echo "go-tools: $dir has no go.mod/go.sum" >&2; exit 2; }
  key=$(module_key "$dir")
  stamp="$out/.stamps/$name"
  if [[ -f $stamp && $(cat "$stamp") == "$key" ]]; then
    echo "go-tools: $name is up to date ($key)" >&2
    continue
  fi
  cached="$cache_root/$name-$key"
  if [[ -d $cached ]]; then
    echo "go-tools: $name from the cache ($cached)" >&2
  else
    start=$SECONDS
    build_module "$dir" "$name" "$cached"
    echo "go-tools: built $name in $((SECONDS - start)) s" >&2
  fi
  install_from "$cached"
  echo "$key" >"$stamp"
done
