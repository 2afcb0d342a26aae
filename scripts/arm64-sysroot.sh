#!/bin/sh
# Unpacks (never installs) the arm64 libraries the matrix's arm64 builds link
# against and ship into the VMs: libbpf, libelf, zlib, plus a static busybox,
# from bookworm through the private apt configuration of
# scripts/install-matrix-deps.sh. Prints the sysroot's path.
#   scripts/arm64-sysroot.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${UNIBPF_CACHE:-"$root/build/cache"}
apt_dir="$cache/apt-bookworm"
debs="$cache/arm64-debs"
sysroot="$cache/arm64-sysroot"

"$root/scripts/install-matrix-deps.sh" >&2
# A multi-arch view of the private apt configuration (scripts/build-arm64.sh
# uses it too).
mkdir -p "$apt_dir/lists-multi/partial" "$apt_dir/cache-multi/archives/partial" "$debs"
cat >"$apt_dir/apt-multi.conf" <<CONF
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/sources.list.d";
Dir::State::Lists "$apt_dir/lists-multi";
Dir::Cache "$apt_dir/cache-multi";
APT::Architectures { "amd64"; "arm64"; };
CONF

if [ ! -x "$sysroot/bin/busybox" ] || [ ! -e "$sysroot/usr/lib/aarch64-linux-gnu/libbpf.so" ]; then
	APT_CONFIG="$apt_dir/apt-multi.conf" apt-get update -qq
	(cd "$debs" && APT_CONFIG="$apt_dir/apt-multi.conf" apt-get download -qq \
		libbpf-dev:arm64 libbpf1:arm64 libelf-dev:arm64 libelf1:arm64 \
		zlib1g-dev:arm64 zlib1g:arm64 busybox-static:arm64 2>/dev/null)
	rm -rf "$sysroot"
	mkdir -p "$sysroot"
	for d in "$debs"/libbpf* "$debs"/libelf* "$debs"/zlib1g* "$debs"/busybox-static*; do
		dpkg-deb -x "$d" "$sysroot"
	done
fi
echo "$sysroot"
