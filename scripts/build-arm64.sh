#!/bin/sh
# Cross-builds unibpf for arm64 (aarch64-unknown-linux-gnu), for the matrix's
# arm64 VMs. rustup cannot fetch an aarch64 std here, so this uses Debian's
# rustc-web 1.96 with its arm64 std (bookworm-security), unpacked, never
# installed, and links against the arm64 sysroot of scripts/arm64-sysroot.sh;
# downloads go through the private apt configuration of
# scripts/install-matrix-deps.sh.
# Prints the binary's path.
#   scripts/build-arm64.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${UNIBPF_CACHE:-"$root/build/cache"}
apt_dir="$cache/apt-bookworm"
debs="$cache/arm64-debs"
rustweb="$cache/rustweb"
# arm64-sysroot.sh installs the matrix tools first.
sysroot=$("$root/scripts/arm64-sysroot.sh")

if [ ! -x "$rustweb/rustc" ]; then
	# apt-multi.conf: written by scripts/arm64-sysroot.sh.
	APT_CONFIG="$apt_dir/apt-multi.conf" apt-get update -qq
	(cd "$debs" && APT_CONFIG="$apt_dir/apt-multi.conf" apt-get download -qq \
		rustc-web libstd-rust-web-1.96 libstd-rust-web-dev libstd-rust-web-dev:arm64 libllvm22 2>/dev/null)
	rm -rf "$rustweb"
	mkdir -p "$rustweb"
	for d in "$debs"/rustc-web_* "$debs"/libstd-rust-web-1.96_* "$debs"/libstd-rust-web-dev_* "$debs"/libllvm22_*; do
		dpkg-deb -x "$d" "$rustweb"
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
