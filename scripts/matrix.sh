#!/bin/sh
# The full compatibility matrix from one command (root): installs QEMU and
# friends, builds unibpf and the program suite, runs every host in
# matrix/hosts.toml, writes matrix/results/latest.{json,md,svg} and updates
# the table in README.md. When the run includes the windows-wine host, it
# also cross-builds unibpf.exe (scripts/build-windows.sh).
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
# unibpf.exe for the windows-wine host, when this run has it: a run of
# every host, or --hosts naming it. If it does not build, the host is
# skipped (the matrix says why) and the others still run.
wine_host=
case " $* " in
*windows-wine*) wine_host=1 ;;
*" --hosts"* | *" --quick "* | *" --module"*) ;;
*) wine_host=1 ;;
esac
# unibpf for each cross arch's VMs: --unibpf-arm64 PATH --unibpf-riscv64 PATH.
. scripts/cross-arch.sh
for arch in $CROSS_ARCHES; do
	set -- "--unibpf-$arch" "$(scripts/build-cross.sh "$arch")" "$@"
done
if [ -n "$wine_host" ]; then
	if exe=$(scripts/build-windows.sh); then
		set -- --unibpf-windows "$exe" "$@"
	else
		echo "matrix.sh: unibpf.exe did not build (scripts/build-windows.sh); windows-wine will be skipped" >&2
	fi
fi
exec target/release/unibpf matrix --root "$root" $update "$@"
