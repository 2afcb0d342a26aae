#!/bin/sh
# Builds a small kernel from a Debian linux-source .deb for matrix hosts that
# Debian does not ship (a kernel without BTF, one without kprobes, one
# without eBPF at all). `unibpf matrix` calls it
# for hosts with `build = "..."` in matrix/hosts.toml.
#
#   build-kernel.sh SOURCE_DEB ARCH FRAGMENT OUT_DIR
#
# ARCH is x86_64 or arm64 (cross-built with aarch64-linux-gnu-gcc). The
# configuration is `make tinyconfig` with FRAGMENT merged over it, after the
# fragments its `# include: NAME` lines name (from the same directory). The
# eBPF options that matter (below) must come out of `olddefconfig` on or off
# as the fragments set them, or the build stops naming the ones that did not.
# The image lands in OUT_DIR/boot/vmlinuz-REL.
# When the fragment turns DWARF on and BTF off, pahole turns the DWARF into
# detached BTF, OUT_DIR/boot/vmlinux-REL.btf: the kernel has no
# /sys/kernel/btf, and that file is what BTFHub would publish for it.
# The source is unpacked once next to the .deb and shared by both arches.
set -eu
[ $# -eq 4 ] || { echo "usage: $0 SOURCE_DEB ARCH FRAGMENT OUT_DIR" >&2; exit 2; }
deb=$(realpath "$1") arch=$2 fragment=$(realpath "$3") out=$4
mkdir -p "$out" && out=$(realpath "$out")

case $arch in
x86_64) karch=x86_64 cross= image=arch/x86/boot/bzImage ;;
arm64) karch=arm64 cross=aarch64-linux-gnu- image=arch/arm64/boot/Image ;;
*) echo "build-kernel: unknown arch $arch (x86_64 or arm64)" >&2; exit 2 ;;
esac
for tool in flex bison bc "${cross}gcc"; do
	command -v "$tool" >/dev/null ||
		{ echo "build-kernel: $tool is missing; run scripts/install-matrix-deps.sh" >&2; exit 1; }
done

src_root="$(dirname "$deb")/src/$(basename "$deb" .deb)"
mkdir -p "$(dirname "$src_root")"
# Both arches may build at once: one unpacks, the other waits.
(
	flock 9
	if [ ! -f "$src_root/.unpacked" ]; then
		echo "build-kernel: unpacking $(basename "$deb")" >&2
		rm -rf "$src_root" && mkdir -p "$src_root"
		dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards '*/linux-source-*.tar.xz' | xz -dc | tar -x -C "$src_root"
		touch "$src_root/.unpacked"
	fi
) 9>"$src_root.lock"
src=$(find "$src_root" -mindepth 1 -maxdepth 1 -type d -name 'linux-source-*' | head -n 1)
[ -n "$src" ] || { echo "build-kernel: no linux-source-* tree in $(basename "$deb")" >&2; exit 1; }

obj="$out/obj"
mkdir -p "$obj"
mk() { make -s -C "$src" O="$obj" ARCH="$karch" CROSS_COMPILE="$cross" "$@"; }
fragments=
for inc in $(sed -n 's/^# include: *//p' "$fragment"); do
	fragments="$fragments $(dirname "$fragment")/$inc"
done
fragments="$fragments $fragment"
mk tinyconfig >/dev/null
# shellcheck disable=SC2086 # one word per fragment
"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" $fragments >/dev/null
mk olddefconfig >/dev/null

# Options the fragments set that this arch's Kconfig cannot take (serial
# drivers of the other arch) are fine; the ones below are the point, and
# must come out on or off as the last fragment to mention them says (a
# fragment may turn eBPF off: nobpf.config). Dependencies can silently
# drop an option olddefconfig cannot satisfy, so this is checked.
wanted() { cat $fragments | grep -E "^(# )?CONFIG_$1[= ]" | tail -n 1; }
wrong=
for opt in BPF_SYSCALL BPF_EVENTS KPROBES UPROBE_EVENTS FTRACE_SYSCALLS CGROUP_BPF \
	NET_CLS_BPF BPF_LSM BLK_DEV_INITRD DEBUG_INFO_BTF FUNCTION_TRACER \
	SECCOMP_FILTER CROSS_MEMORY_ATTACH PACKET; do
	case $(wanted "$opt") in
	"CONFIG_$opt=y") grep -q "^CONFIG_$opt=y" "$obj/.config" || wrong="$wrong $opt (wanted on, is off)" ;;
	"# CONFIG_$opt is not set") grep -q "^CONFIG_$opt=y" "$obj/.config" && wrong="$wrong $opt (wanted off, is on)" ;;
	esac
done
[ -z "$wrong" ] || { echo "build-kernel: the config differs from the fragments:$wrong" >&2; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
mk -j"$jobs" "$(basename "$image")" KBUILD_BUILD_USER=unibpf KBUILD_BUILD_HOST=matrix
release=$(mk -s kernelrelease)
mkdir -p "$out/boot"
rm -f "$out"/boot/vmlinuz-*
cp "$obj/$image" "$out/boot/vmlinuz-$release"
cp "$obj/.config" "$out/boot/config-$release"
rm -f "$out"/boot/vmlinux-*.btf
# A kernel with BTF of its own needs no detached copy.
if grep -q '^CONFIG_DEBUG_INFO=y' "$obj/.config" && ! grep -q '^CONFIG_DEBUG_INFO_BTF=y' "$obj/.config"; then
	command -v pahole >/dev/null ||
		{ echo "build-kernel: pahole is missing; run scripts/install-matrix-deps.sh" >&2; exit 1; }
	pahole --btf_encode_detached="$out/boot/vmlinux-$release.btf" "$obj/vmlinux"
fi
echo "$out/boot/vmlinuz-$release"
