#!/bin/sh
# Cross-builds unibpf.exe for Windows (x86_64-pc-windows-gnu) and prints
# its path. rustup cannot fetch the target here and no Debian release after
# bookworm ships a Windows std, so std is built from source: Debian's
# rustc-web 1.96 with its own sources (rust-web-src), both from
# bookworm-security, unpacked, never installed (scripts/rustweb.sh), under
# RUSTC_BOOTSTRAP=1 -Zbuild-std, linked by mingw-w64. Also builds
# wine-dlls/bcryptprimitives.dll beside the target dir's release/, which
# wine 8 needs to start it (scripts/wine/bcryptprimitives.c); wine is
# installed too, for running it. Cached: a rebuild with nothing changed
# takes seconds. Also builds a stand-in for eBPF for Windows' ebpfapi.dll
# that records every call and carries a version resource of ours
# (scripts/wine/ebpfapi/), in wine-dlls/stand-in/: a folder of its own, as
# wine-dlls/ itself is on WINEPATH where the tests expect ebpfapi.dll to be
# missing.
#   scripts/build-windows.sh
# The build goes to ${CARGO_TARGET_DIR:-target}/windows.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
target=x86_64-pc-windows-gnu
out="${CARGO_TARGET_DIR:-$root/target}/windows"
export DEBIAN_FRONTEND=noninteractive

if ! command -v x86_64-w64-mingw32-gcc >/dev/null || ! command -v wine >/dev/null; then
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
		gcc-mingw-w64-x86-64 wine wine64 >/dev/null
fi
rustweb=$("$root/scripts/rustweb.sh" --src)

mkdir -p "$out/wine-dlls"
dll="$out/wine-dlls/bcryptprimitives.dll"
if [ ! -e "$dll" ] || [ "$root/scripts/wine/bcryptprimitives.c" -nt "$dll" ]; then
	x86_64-w64-mingw32-gcc -O2 -shared -o "$dll" "$root/scripts/wine/bcryptprimitives.c" -ladvapi32
fi

standin="$out/wine-dlls/stand-in/ebpfapi.dll"
mkdir -p "$out/wine-dlls/stand-in"
src="$root/scripts/wine/ebpfapi"
if [ ! -e "$standin" ] || [ -n "$(find "$src" -newer "$standin")" ]; then
	x86_64-w64-mingw32-windres "$src/version.rc" -O coff -o "$out/wine-dlls/stand-in/version.o"
	x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -shared -o "$standin" "$src/ebpfapi.c" "$src/object.c" \
		"$out/wine-dlls/stand-in/version.o"
fi
rm -rf "$out/wine-dlls/efw-version"

# The Cargo.lock of std's sources pins its dependencies; cargo fetches
# them from crates.io like any other. rustc-web has no clippy, so the
# Windows-only code is held to no warnings at all: any fails the build
# (cargo replays a cached crate's warnings, so a rebuild sees them too).
log="$out/build.log"
env RUSTC="$rustweb/rustc" RUSTC_BOOTSTRAP=1 \
	CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
	CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc \
	AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar \
	CARGO_TARGET_DIR="$out" \
	cargo build --quiet --release --target "$target" -Zbuild-std=std,panic_unwind \
	--manifest-path "$root/Cargo.toml" -p unibpf-cli 2>"$log" || {
	cat "$log" >&2
	exit 1
}
cat "$log" >&2
if grep -q '^warning' "$log"; then
	echo "build-windows.sh: the Windows build has warnings (above); fix them" >&2
	exit 1
fi
echo "$out/$target/release/unibpf.exe"
