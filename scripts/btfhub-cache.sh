#!/bin/sh
# Regenerates btfhub-cache/ (root): builds the matrix's kernels without BTF
# (scripts/build-kernel.sh: DWARF on, BTF off, then pahole's detached BTF),
# minimises their BTF for the whole program suite and writes it in BTFHub's
# layout, by running those matrix hosts. Their results go to
# build/matrix/btfhub-run/, not over matrix/results/.
#   sudo scripts/btfhub-cache.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
hosts=$(awk '/^\[\[host\]\]/ { name = "" }
	/^name *=/ { gsub(/"/, "", $3); name = $3 }
	/^build *= *"nobtf"/ { print name }' matrix/hosts.toml | paste -sd, -)
[ -n "$hosts" ] || { echo "btfhub-cache: no host with build = \"nobtf\" in matrix/hosts.toml" >&2; exit 1; }
mkdir -p build/matrix/btfhub-run
scripts/matrix.sh --hosts "$hosts" --out build/matrix/btfhub-run
ls -lR btfhub-cache
