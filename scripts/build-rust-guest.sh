#!/bin/sh
# Builds a Rust guest (a Cargo project under programs/) for wasm32-wasip1.
#
# This machine's Rust has no wasm32 std and rustup cannot fetch one, so the
# build runs in a Debian trixie chroot whose packaged rustc 1.85 comes with
# libstd-rust-dev-wasm32. The chroot is made once (debootstrap + apt, about a
# minute and 1.8 GB) and cached in $UNIBPF_CACHE (default build/cache); the
# machine's own apt sources are never touched.
#
#   scripts/build-rust-guest.sh CRATE_DIR OUT_DIR [NAME=VALUE...]
# NAME=VALUE pairs become build-time environment variables; paths in them
# must be under the repository or OUT_DIR (both are visible in the chroot).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
crate=$(cd "$1" && pwd)
out=$(mkdir -p "$2" && cd "$2" && pwd)
shift 2
cache=${UNIBPF_CACHE:-"$root/build/cache"}
chroot_dir="$cache/trixie-rust"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ ! -x "$chroot_dir/usr/bin/cargo" ]; then
	command -v debootstrap >/dev/null 2>&1 || {
		echo "build-rust-guest: debootstrap not found; run scripts/install-deps.sh" >&2
		exit 1
	}
	echo "build-rust-guest: making a Debian trixie chroot with Rust for wasm32-wasip1 in $chroot_dir (once)" >&2
	mkdir -p "$cache"
	rm -rf "$chroot_dir.tmp"
	debootstrap --variant=minbase --include=ca-certificates trixie "$chroot_dir.tmp" "$mirror" >/dev/null
	cp /etc/resolv.conf "$chroot_dir.tmp/etc/resolv.conf"
	chroot "$chroot_dir.tmp" apt-get install -y -qq --no-install-recommends \
		rustc cargo libstd-rust-dev-wasm32 rust-llvm >/dev/null
	chroot "$chroot_dir.tmp" apt-get clean
	mv "$chroot_dir.tmp" "$chroot_dir"
fi

# The repository and the output directory, seen at the same paths inside.
mounted=""
cleanup() {
	for m in $mounted; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
for dir in "$root" "$out"; do
	mkdir -p "$chroot_dir$dir"
	if ! mountpoint -q "$chroot_dir$dir"; then
		mount --bind "$dir" "$chroot_dir$dir"
		mounted="$chroot_dir$dir $mounted"
	fi
done

name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$crate/Cargo.toml" | tail -n 1)
chroot "$chroot_dir" env -i PATH=/usr/bin:/bin HOME=/tmp "$@" \
	CARGO_TARGET_DIR="$out/rust-target" \
	RUSTFLAGS="-C link-arg=--export-table" \
	cargo build --quiet --offline --release --target wasm32-wasip1 \
	--manifest-path "$crate/Cargo.toml"
cp "$out/rust-target/wasm32-wasip1/release/$name.wasm" "$out/$name.wasm"
