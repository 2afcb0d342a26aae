#!/bin/sh
# The long soak (as root: the modules load BPF programs into the running
# kernel): three execsnoop modules and a load/close churner side by side in
# one runtime under a steady exec load, for MINUTES (default 30). It fails on
# a missed event or growth in fds, BPF objects or memory; CI runs the same
# test for 15 seconds as part of the test suite.
#   sudo scripts/soak.sh [MINUTES]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
minutes=${1:-30}
case $minutes in
'' | *[!0-9]*)
	echo "usage: scripts/soak.sh [MINUTES]" >&2
	exit 2
	;;
esac
scripts/install-deps.sh
UNIBPF_SOAK_SECS=$((minutes * 60)) exec cargo test --release -p unibpf --test soak -- --nocapture
