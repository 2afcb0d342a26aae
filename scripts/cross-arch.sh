# What the cross builds know about each non-x86_64 architecture of the
# matrix, in one place. Sourced (not run), with $root set to the
# repository, by scripts/sysroot.sh, scripts/build-cross.sh,
# scripts/build-programs.sh and scripts/matrix.sh:
#   . "$root/scripts/cross-arch.sh"; cross_arch ARCH
# sets
#   triplet      GNU triplet of the cross gcc and of the multiarch paths
#   rust_target  the Rust target unibpf is built for
#   suites       Debian suites (archive:suite) the arch's libraries and
#                Rust std come from
#   libs         the packages unpacked into the sysroot (libbpf, libelf,
#                zlib and their libraries, a static busybox for the VM)
#   ldflags      what links against them needs besides the sysroot
#   cargo_env    VAR=VALUE words the Rust cross build needs besides
# bookworm has no riscv64: riscv64 became an official architecture with
# trixie, whose rustc-web 1.96 std pairs with bookworm-security's compiler
# (same upstream release; scripts/build-cross.sh checks that).
CROSS_ARCHES="arm64 riscv64"

# cross_main "$@": a script's one argument, ARCH, checked; sets arch, the
# cache directory (as scripts/install-matrix-deps.sh's) and the variables
# of cross_arch.
cross_main() {
	[ $# -eq 1 ] || { echo "usage: $0 ARCH (one of: $CROSS_ARCHES)" >&2; exit 2; }
	arch=$1
	cross_arch "$arch"
	cache=${UNIBPF_CACHE:-"$root/build/cache"}
}

cross_arch() {
	case $1 in
	arm64)
		triplet=aarch64-linux-gnu rust_target=aarch64-unknown-linux-gnu suites="debian:bookworm debian-security:bookworm-security"
		libs="libbpf-dev libbpf1 libelf-dev libelf1 zlib1g-dev zlib1g busybox-static"
		ldflags= cargo_env=
		;;
	riscv64)
		triplet=riscv64-linux-gnu rust_target=riscv64gc-unknown-linux-gnu suites=debian:trixie
		# Not trixie-security: the mirror's riscv64 index there does not
		# match its Release file, so apt refuses it; trixie's point
		# releases carry the same fixes a little later.
		libs="libbpf-dev libbpf1 libelf-dev libelf1t64 zlib1g-dev zlib1g libzstd1 libc6 busybox-static"
		# trixie's libbpf and libelf want glibc 2.38 symbols; the cross
		# gcc's libc is bookworm's 2.36. Binaries link against 2.36 (which
		# 2.41 runs) without checking the libraries' needs, and the VMs get
		# trixie's libc from the sysroot.
		ldflags=-Wl,--allow-shlib-undefined
		# trixie's libelf uses libzstd, which unibpf also links statically
		# (zstd-sys, symbols hidden): the link then fails with "hidden
		# symbol ZSTD_freeCCtx is referenced by DSO". Exported, libelf
		# binds to that copy (zstd 1.5.7, as trixie's libzstd1).
		cargo_env=ZSTD_SYS_NO_HIDE_SYMBOLS=1
		;;
	*)
		echo "$0: unknown architecture $1 (one of: $CROSS_ARCHES)" >&2
		exit 2
		;;
	esac
}
