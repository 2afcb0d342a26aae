#!/bin/sh
# The full compatibility matrix from one command (root): installs QEMU and
# friends, builds unibpf and the program suite, runs every host in
# matrix/hosts.toml, writes matrix/results/latest.{json,md,svg} and updates
# the table in README.md.
#   sudo scripts/matrix.sh [unibpf matrix options, e.g. --quick or --hosts ...]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/install-matrix-deps.sh
cargo build --quiet --release -p unibpf-cli
UNIBPF="$root/target/release/unibpf" scripts/build-programs.sh build/programs
update=--update-readme
[ $# -gt 0 ] && update=
# unibpf for each cross arch's VMs: --unibpf-arm64 PATH --unibpf-riscv64 PATH.
. scripts/cross-arch.sh
for arch in $CROSS_ARCHES; do
	set -- "--unibpf-$arch" "$(scripts/build-cross.sh "$arch")" "$@"
done
exec target/release/unibpf matrix --root "$root" $update "$@"
