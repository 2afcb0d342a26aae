#!/bin/sh
# Installs what the tests need and runs them all (as root: they load real BPF
# programs into the running kernel).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
# QEMU and busybox for the quick compatibility matrix, the suite's and a user's
# module's (crates/unibpf-cli/tests/matrix.rs, matrix_module.rs).
scripts/install-matrix-deps.sh
# unibpf.exe for the wine tests (crates/unibpf-cli/tests/windows.rs): installs
# mingw-w64 and wine, unpacks Debian's rustc-web with its std sources, and
# cross-builds, cached under target/windows (about 8 minutes the first time
# on 2 cores, seconds after).
scripts/build-windows.sh >/dev/null
cargo test --workspace --all-targets
# Every fuzz target for a bounded time (about 4 minutes in all, building
# included), with the generator the tests just built making the seeds.
UNIBPF="$root/target/debug/unibpf" scripts/fuzz.sh
