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
cargo test --workspace --all-targets
# Every fuzz target for a bounded time (about 4 minutes in all, building
# included), with the generator the tests just built making the seeds.
UNIBPF="$root/target/debug/unibpf" scripts/fuzz.sh
