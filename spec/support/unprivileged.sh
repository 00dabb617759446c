#!/usr/bin/env bash
# Run the busted suite as an unprivileged user (nobody, every capability
# dropped): the argument checks must pass exactly as for root, and the specs
# that need privilege must be pending with the reason, not failing.  The
# suite runs from a world-readable copy of what it needs, since the checkout
# may sit where nobody cannot read.
set -euo pipefail
lua=${1:-lua5.4}
busted=${2:-/usr/bin/busted}
shift 2 || true
src=$(pwd)
tmp=$(mktemp -d /tmp/bpfmapunprivXXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r "$src/lua" "$src/bin" "$src/csrc" "$src/rockspec" "$src/spec" "$src/examples" "$src/.busted" "$tmp/"
mkdir -p "$tmp/build"
cp -r "$src/build/bpfmap" "$src/build/fixtures" "$src/build/tests" "$tmp/build/"
[ -d "$src/build/examples" ] && cp -r "$src/build/examples" "$tmp/build/"
chmod -R a+rX "$tmp"
cd "$tmp"
# not exec: the trap must still remove the copy afterwards
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
	env HOME="$tmp" LUA_PATH="$tmp/lua/?.lua;$tmp/lua/?/init.lua;$tmp/?.lua;;" \
	LUA_CPATH="$tmp/build/?.so;;" "$lua" "$busted" "$@"
