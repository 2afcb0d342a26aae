#!/bin/sh
# Builds the program suite: for each programs/NAME/, NAME.bpf.c becomes
# NAME.bpf.o (clang -target bpf against a bpftool-generated vmlinux.h), then
# `unibpf gen skeleton` and `unibpf gen types` make NAME.skel.h and
# NAME.types.h, and NAME.c becomes NAME.wasm (clang --target=wasm32-wasi with
# the C SDK). A Rust control plane in programs/NAME/rust becomes
# NAME_rs.wasm (scripts/build-rust-guest.sh). NAME.c is also built natively
# against libbpf as NAME.native (sdk/c/native/wasm_bpf_libbpf.c): the
# matrix's native column. Other files in a program's directory (e.g. a
# workload binary's NAME.target.c, a Windows variant's NAME.windows.bpf.c,
# bundled into NAME.wasm) are built by their own rules below. With
# a cross compiler for arm64 or riscv64 (scripts/install-matrix-deps.sh),
# native and workload binaries are built for that arch too, under
# OUT_DIR/ARCH, against its sysroot (scripts/sysroot.sh).
#   scripts/build-programs.sh [OUT_DIR]      (default: build/programs)
# UNIBPF=path/to/unibpf selects the generator binary (default: builds it).
# PROGRAMS="a b" builds only those; SOURCES="dir..." looks for program
# directories there instead of programs/ (the benchmarks keep theirs in
# crates/unibpf-bench/guests). RUST_GUESTS=no skips Rust control planes and
# NATIVE_CROSS=no the cross-arch builds.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/build/programs"}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in clang wasm-ld llvm-strip bpftool; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "build-programs: $tool not found; run scripts/install-deps.sh" >&2
		exit 1
	}
done
if [ -z "${UNIBPF:-}" ]; then
	cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p unibpf-cli
	UNIBPF="$root/target/release/unibpf"
fi

case "$(uname -m)" in
x86_64) target_arch=x86 ;;
aarch64) target_arch=arm64 ;;
*) target_arch=$(uname -m) ;;
esac
vmlinux="$out/vmlinux.h"
if [ ! -s "$vmlinux" ]; then
	btf=/sys/kernel/btf/vmlinux
	[ -r "$btf" ] || {
		echo "build-programs: $btf is missing; building the BPF objects needs a kernel with BTF" >&2
		exit 1
	}
	bpftool btf dump file "$btf" format c >"$vmlinux.tmp"
	mv "$vmlinux.tmp" "$vmlinux"
fi

# The cross arches whose compiler is here, each with its sysroot.
. "$root/scripts/cross-arch.sh"
cross=
if [ "${NATIVE_CROSS:-yes}" != no ]; then
	for arch in $CROSS_ARCHES; do
		cross_arch "$arch"
		if command -v "$triplet-gcc" >/dev/null 2>&1; then
			"$root/scripts/sysroot.sh" "$arch" >/dev/null
			mkdir -p "$out/$arch"
			cross="$cross $arch"
		fi
	done
fi
cache=${UNIBPF_CACHE:-"$root/build/cache"}
# cross_cc ARCH ARGS...: the arch's gcc against its sysroot.
cross_cc() {
	cross_arch "$1"
	sysroot="$cache/$1-sysroot"
	shift
	lib="$sysroot/usr/lib/$triplet"
	"$triplet-gcc" -I"$sysroot/usr/include" -L"$lib" \
		-Wl,-rpath-link,"$lib":"$sysroot/lib/$triplet" $ldflags "$@"
}

only=${PROGRAMS:-}
sources=${SOURCES:-"$root/programs"}
for dir in $(for s in $sources; do ls -d "$s"/*/; done); do
	name=$(basename "$dir")
	[ -f "$dir/$name.bpf.c" ] || continue
	if [ -n "$only" ] && ! echo " $only " | grep -q " $name "; then
		continue
	fi
	clang -g -O2 -target bpf -D__TARGET_ARCH_$target_arch -Wall -Werror \
		-I"$out" -I"$dir" -I"$root/sdk/c/include" \
		-c "$dir/$name.bpf.c" -o "$out/$name.bpf.o"
	# -g is for BTF (CO-RE needs it); the DWARF that comes with it is
	# ten times the object and would be embedded in every .wasm.
	llvm-strip -g "$out/$name.bpf.o"
	"$UNIBPF" gen skeleton "$out/$name.bpf.o" >"$out/$name.skel.h"
	# programs/NAME/types lists the types the guest shares with the BPF
	# side (one per line); without it, every named type is emitted.
	set --
	if [ -f "$dir/types" ]; then
		for t in $(cat "$dir/types"); do
			set -- "$@" --type "$t"
		done
	fi
	"$UNIBPF" gen types "$@" "$out/$name.bpf.o" >"$out/$name.types.h"
	if [ -f "$dir/$name.c" ]; then
		clang --target=wasm32-wasi -O2 -Wall -Werror \
			-I"$root/sdk/c/include" -I"$out" -I"$dir" \
			-Wl,--export-table -Wl,--strip-all \
			-o "$out/$name.wasm" "$dir/$name.c"
		cc -O2 -Wall -Werror -I"$root/sdk/c/include" -I"$out" -I"$dir" \
			-o "$out/$name.native" "$dir/$name.c" "$root/sdk/c/native/wasm_bpf_libbpf.c" -lbpf
		for arch in $cross; do
			cross_cc "$arch" -O2 -Wall -Werror -I"$root/sdk/c/include" -I"$out" -I"$dir" \
				-o "$out/$arch/$name.native" "$dir/$name.c" "$root/sdk/c/native/wasm_bpf_libbpf.c" -lbpf
		done
	fi
	# A control plane in Rust (programs/NAME/rust), with the same object
	# and the types rendered for Rust.
	if [ "${RUST_GUESTS:-yes}" != no ] && [ -f "$dir/rust/Cargo.toml" ]; then
		"$UNIBPF" gen types --lang rust "$@" "$out/$name.bpf.o" >"$out/$name.types.rs"
		upper=$(echo "$name" | tr 'a-z' 'A-Z')
		sh "$root/scripts/build-rust-guest.sh" "$dir/rust" "$out" \
			"${upper}_BPF_O=$out/$name.bpf.o" "${upper}_TYPES_RS=$out/$name.types.rs"
	fi
	# A Windows variant (NAME.windows.bpf.c): built for eBPF for Windows
	# against our header of its facts (sdk/windows/unibpf_efw.h, no Linux
	# headers), then stored in the program's modules by `unibpf bundle`,
	# keyed to the Linux object it replaces. -g for BTF: efW reads the
	# `.maps` definitions from it, as libbpf does. It goes in windows/, so
	# OUT_DIR/*.bpf.o stay the Linux objects, one per NAME.wasm.
	if [ -f "$dir/$name.windows.bpf.c" ]; then
		mkdir -p "$out/windows"
		variant="$out/windows/$name.windows.bpf.o"
		clang -g -O2 -target bpf -Wall -Werror \
			-I"$root/sdk/windows" -I"$dir" \
			-c "$dir/$name.windows.bpf.c" -o "$variant"
		llvm-strip -g "$variant"
		for module in "$out/$name.wasm" "$out/${name}_rs.wasm"; do
			[ -f "$module" ] || continue
			"$UNIBPF" bundle "$module" --platform windows \
				"$out/$name.bpf.o=$variant" -o "$module.tmp"
			mv "$module.tmp" "$module"
		done
	fi
	# A native workload binary the program observes (uprobe targets), and
	# builds of it for the matrix's cross-arch VMs.
	# Programs listing architectures in cross-arch are also built as if for
	# them (foreign_regs.h declares their register structs): the same
	# control plane with that object, in for-ARCH/, for the pt_regs tests.
	if [ -f "$dir/cross-arch" ] && [ -f "$dir/$name.c" ]; then
		for arch in $(cat "$dir/cross-arch"); do
			mkdir -p "$out/for-$arch"
			clang -g -O2 -target bpf -D__TARGET_ARCH_$arch -Wall -Werror \
				-include "$root/sdk/c/include/unibpf/foreign_regs.h" \
				-I"$out" -I"$dir" -I"$root/sdk/c/include" \
				-c "$dir/$name.bpf.c" -o "$out/for-$arch/$name.bpf.o"
			llvm-strip -g "$out/for-$arch/$name.bpf.o"
			"$UNIBPF" gen skeleton "$out/for-$arch/$name.bpf.o" >"$out/for-$arch/$name.skel.h"
			clang --target=wasm32-wasi -O2 -Wall -Werror \
				-I"$root/sdk/c/include" -I"$out/for-$arch" -I"$out" -I"$dir" \
				-Wl,--export-table -Wl,--strip-all \
				-o "$out/for-$arch/$name.wasm" "$dir/$name.c"
		done
	fi
	if [ -f "$dir/$name.target.c" ]; then
		cc -O1 -g -o "$out/$name.target" "$dir/$name.target.c"
		for arch in $cross; do
			cross_cc "$arch" -O1 -g -o "$out/$arch/$name.target" "$dir/$name.target.c"
		done
	fi
done
