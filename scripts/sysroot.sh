#!/bin/sh
# Unpacks (never installs) the libraries ARCH's cross builds link against
# and ship into the matrix's VMs: libbpf, libelf, zlib, plus a static
# busybox, from the arch's Debian suite (scripts/cross-arch.sh) through a
# private apt configuration beside the one of scripts/install-matrix-deps.sh.
# Prints the sysroot's path.
#   scripts/sysroot.sh ARCH        (arm64 or riscv64)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/cross-arch.sh"
cross_main "$@"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
apt_dir="$cache/apt-$arch"
debs="$cache/$arch-debs"
sysroot="$cache/$arch-sysroot"

"$root/scripts/install-matrix-deps.sh" >&2
# The arch's own apt configuration (scripts/build-cross.sh takes the Rust
# std from it too): only its suite, only its architecture, so one arch's
# newer suite never changes another's libraries.
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" "$debs"
: >"$apt_dir/sources.list"
for s in $suites; do
	echo "deb [arch=$arch] ${mirror%/debian}/${s%%:*} ${s#*:} main" >>"$apt_dir/sources.list"
done
cat >"$apt_dir/apt.conf" <<CONF
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/sources.list.d";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
APT::Architectures { "amd64"; "$arch"; };
CONF

if [ ! -x "$sysroot/bin/busybox" ] || [ ! -e "$sysroot/usr/lib/$triplet/libbpf.so" ]; then
	APT_CONFIG="$apt_dir/apt.conf" apt-get update -qq
	set --
	for p in $libs; do set -- "$@" "$p:$arch"; done
	(cd "$debs" && APT_CONFIG="$apt_dir/apt.conf" apt-get download -qq "$@" 2>/dev/null)
	rm -rf "$sysroot"
	mkdir -p "$sysroot"
	for p in $libs; do
		# The newest download of each package (older ones stay cached).
		deb=$(ls -v "$debs/${p}_"*"_$arch.deb" | tail -n 1)
		dpkg-deb -x "$deb" "$sysroot"
	done
	# trixie's busybox is in usr/bin (merged /usr); the matrix takes bin/.
	[ -e "$sysroot/bin/busybox" ] || { mkdir -p "$sysroot/bin" && ln -s ../usr/bin/busybox "$sysroot/bin/busybox"; }
fi
echo "$sysroot"
