#!/bin/sh
# Installs everything, builds unibpf and the demo module, and runs it: every exec
# on this machine is printed live until Ctrl-C (or DURATION, e.g. 10s).
#   sudo scripts/demo.sh [DURATION]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
cargo build --release -p unibpf-cli
scripts/build-guests.sh build/guests
echo "demo: printing every exec on this machine; run some commands in another terminal (Ctrl-C stops)" >&2
if [ $# -gt 0 ]; then
	exec target/release/unibpf run --timeout "$1" build/guests/execsnoop.wasm
fi
exec target/release/unibpf run build/guests/execsnoop.wasm
