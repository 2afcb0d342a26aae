#!/bin/sh
# Cross-builds unibpf for ARCH (arm64: aarch64-unknown-linux-gnu, riscv64:
# riscv64gc-unknown-linux-gnu), for the matrix's VMs of that arch. rustup
# cannot fetch a target std here, so this uses Debian's rustc-web 1.96 from
# bookworm-security with the arch's std from its suite (scripts/cross-arch.sh),
# unpacked, never installed, and links against the sysroot of
# scripts/sysroot.sh; downloads go through private apt configurations.
# Prints the binary's path.
#   scripts/build-cross.sh ARCH
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/cross-arch.sh"
cross_main "$@"
debs="$cache/$arch-debs"
# sysroot.sh installs the matrix tools and writes the arch's apt
# configuration first.
sysroot=$("$root/scripts/sysroot.sh" "$arch")

# The compiler, for this machine, from bookworm-security, once for every
# arch.
rustweb=$("$root/scripts/rustweb.sh")

# The arch's std, from its own suite: it must be the compiler's release.
if [ ! -d "$rustweb/usr/lib/rustlib/$rust_target" ]; then
	(cd "$debs" && APT_CONFIG="$cache/apt-$arch/apt.conf" apt-get download -qq \
		"libstd-rust-web-dev:$arch" 2>/dev/null)
	std=$(ls -v "$debs/libstd-rust-web-dev_"*"_$arch.deb" | tail -n 1)
	release=$("$rustweb/rustc" --version | cut -d' ' -f2)
	case $(dpkg-deb -f "$std" Version) in
	"$release"+* | "$release"-*) ;;
	*)
		echo "build-cross: $(basename "$std") is not for rustc $release; the std of $suites and bookworm's rustc-web differ" >&2
		exit 1
		;;
	esac
	dpkg-deb -x "$std" "$rustweb"
fi

upper=$(echo "$rust_target" | tr 'a-z-' 'A-Z_')
lower=$(echo "$rust_target" | tr '-' '_')
# $cargo_env is VAR=VALUE words, unquoted on purpose.
# shellcheck disable=SC2086
env $cargo_env RUSTC="$rustweb/rustc" \
	"CARGO_TARGET_${upper}_LINKER=$triplet-gcc" \
	"CC_$lower=$triplet-gcc" \
	"AR_$lower=$triplet-ar" \
	LIBBPF_SYS_EXTRA_CFLAGS="-I$sysroot/usr/include" \
	"LIBBPF_SYS_LIBRARY_PATH_$lower=$sysroot/usr/lib/$triplet" \
	"CARGO_TARGET_${upper}_RUSTFLAGS=${ldflags:+-C link-arg=$ldflags}" \
	CARGO_TARGET_DIR="$root/target/cross" \
	cargo build --quiet --release --target "$rust_target" \
	--manifest-path "$root/Cargo.toml" -p unibpf-cli >&2
echo "$root/target/cross/$rust_target/release/unibpf"
