#!/bin/sh
# Installs what the benchmarks need and runs them (as root: they load BPF
# programs into the running kernel). Arguments go to the bench: --json
# prints JSON instead of the table, --smoke runs tiny counts.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
cargo bench -p unibpf-cli --bench overhead -- "$@"
# The userspace backend's interpreter beside rbpf, on the suite's objects
# the run above built.
cargo bench -p unibpf-backend-userspace --bench vm -- "$root/target/bench/guests"
