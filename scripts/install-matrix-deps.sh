#!/bin/sh
# Installs what `unibpf matrix` needs on Debian 12: QEMU 10 for x86_64,
# arm64 and riscv64 (with the OpenSBI firmware riscv64's virt machine boots
# through) from bookworm-backports (bookworm's own 7.2 would remove the
# preinstalled qemu-utils 10), busybox for the VMs' userland, the arm64 and
# riscv64 cross toolchains, xz, and what scripts/build-kernel.sh needs (flex, bison, bc,
# libelf-dev) for the self-built no-BTF hosts. The backports suite goes through a private apt
# configuration under $UNIBPF_CACHE (scripts/apt-bookworm.sh); the machine's apt sources are
# untouched.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive

# The private apt configuration (scripts/apt-bookworm.sh) is written every
# time: scripts/build-cross.sh uses it too, also on machines where the tools
# below are already there.
apt_conf=$("$root/scripts/apt-bookworm.sh")
if command -v qemu-system-x86_64 >/dev/null && command -v qemu-system-aarch64 >/dev/null &&
	command -v qemu-system-riscv64 >/dev/null &&
	command -v busybox >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null &&
	command -v riscv64-linux-gnu-gcc >/dev/null &&
	command -v flex >/dev/null && command -v bison >/dev/null && command -v bc >/dev/null &&
	command -v pahole >/dev/null; then
	exit 0
fi
APT_CONFIG="$apt_conf" apt-get update -qq
APT_CONFIG="$apt_conf" apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
	-t bookworm-backports qemu-system-x86 qemu-system-arm qemu-system-riscv >/dev/null
apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
	busybox-static xz-utils gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
	gcc-riscv64-linux-gnu libc6-dev-riscv64-cross \
	flex bison bc libelf-dev dwarves >/dev/null
