#!/bin/sh
# Installs what unibpf needs to build and test on Debian 12: clang/lld and
# wasi-libc for wasm32 guests, clang's BPF target and libbpf headers for BPF
# objects, libelf/zlib for the vendored libbpf, xz for the BTFHub-style
# archives the BTF tests pack with tar, and the kernel filesystems the
# tests use. Needs root.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
	clang lld llvm wasi-libc libclang-rt-14-dev-wasm32 \
	libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
	iproute2 procps debootstrap xz-utils >/dev/null
command -v cargo >/dev/null 2>&1 || {
	echo "install-deps: cargo not found; install Rust (rustup) first" >&2
	exit 1
}
# tracefs for tracepoints (unibpf mounts it itself when it can), bpffs for pins.
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
