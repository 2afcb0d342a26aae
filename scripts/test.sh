#!/bin/sh
# Installs what the tests need and runs them all (as root: they load real BPF
# programs into the running kernel).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
# QEMU and busybox for the quick compatibility matrix (crates/unibpf-cli/tests/matrix.rs).
scripts/install-matrix-deps.sh
cargo test --workspace --all-targets
