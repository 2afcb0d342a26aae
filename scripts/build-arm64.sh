#!/bin/sh
# Cross-builds unibpf for arm64 (aarch64-unknown-linux-gnu), for the matrix's
# arm64 VMs. rustup cannot fetch an aarch64 std here, so this uses Debian's
# rustc-web 1.96 with its arm64 std (bookworm-security), unpacked, never
# installed, next to arm64 libelf/zlib for linking; downloads go through the
# private apt configuration of scripts/install-matrix-deps.sh.
# Prints the binary's path.
#   scripts/build-arm64.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${UNIBPF_CACHE:-"$root/build/cache"}
apt_dir="$cache/apt-bookworm"
debs="$cache/arm64-debs"
rustweb="$cache/rustweb"
sysroot="$cache/arm64-sysroot"
"$root/scripts/install-matrix-deps.sh" >&2

if [ ! -x "$rustweb/rustc" ] || [ ! -x "$sysroot/bin/busybox" ]; then
	mkdir -p "$apt_dir/lists-multi/partial" "$apt_dir/cache-multi/archives/partial" "$debs"
	cat >"$apt_dir/apt-multi.conf" <<CONF
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/sources.list.d";
Dir::State::Lists "$apt_dir/lists-multi";
Dir::Cache "$apt_dir/cache-multi";
APT::Architectures { "amd64"; "arm64"; };
CONF
	APT_CONFIG="$apt_dir/apt-multi.conf" apt-get update -qq
	(cd "$debs" && APT_CONFIG="$apt_dir/apt-multi.conf" apt-get download -qq \
		rustc-web libstd-rust-web-1.96 libstd-rust-web-dev libstd-rust-web-dev:arm64 libllvm22 \
		libelf-dev:arm64 libelf1:arm64 zlib1g-dev:arm64 zlib1g:arm64 busybox-static:arm64 2>/dev/null)
	rm -rf "$rustweb" "$sysroot"
	mkdir -p "$rustweb" "$sysroot"
	for d in "$debs"/rustc-web_* "$debs"/libstd-rust-web-1.96_* "$debs"/libstd-rust-web-dev_* "$debs"/libllvm22_*; do
		dpkg-deb -x "$d" "$rustweb"
	done
	for d in "$debs"/libelf* "$debs"/zlib1g* "$debs"/busybox-static*; do
		dpkg-deb -x "$d" "$sysroot"
	done
	cat >"$rustweb/rustc" <<WRAP
#!/bin/sh
export LD_LIBRARY_PATH="$rustweb/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$rustweb/usr/bin/rustc" "\$@"
WRAP
	chmod +x "$rustweb/rustc"
fi

RUSTC="$rustweb/rustc" \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
	CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
	AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
	LIBBPF_SYS_EXTRA_CFLAGS="-I$sysroot/usr/include" \
	LIBBPF_SYS_LIBRARY_PATH_aarch64_unknown_linux_gnu="$sysroot/usr/lib/aarch64-linux-gnu" \
	CARGO_TARGET_DIR="$root/target/cross" \
	cargo build --quiet --release --target aarch64-unknown-linux-gnu \
	--manifest-path "$root/Cargo.toml" -p unibpf-cli >&2
echo "$root/target/cross/aarch64-unknown-linux-gnu/release/unibpf"
