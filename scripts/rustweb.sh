#!/bin/sh
# Unpacks (never installs: apt's rustc-web conflicts with rustup) Debian's
# rustc-web 1.96 from bookworm-security for this machine under
# $UNIBPF_CACHE, writes the `rustc` wrapper that finds its libraries, and
# prints the directory; $DIR/rustc is the compiler. With --src, also the
# std sources of the same release (rust-web-src), for -Zbuild-std.
#   scripts/rustweb.sh [--src]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${UNIBPF_CACHE:-"$root/build/cache"}
rustweb="$cache/rustweb"
host_debs="$cache/rustweb-debs"
src=
[ "${1:-}" = --src ] && src=rust-web-src

want=
[ -x "$rustweb/usr/bin/rustc" ] || want="rustc-web libstd-rust-web-1.96 libstd-rust-web-dev libllvm22"
[ -z "$src" ] || [ -d "$rustweb/usr/lib/rustlib/src/rust/library" ] || want="$want $src"
if [ -n "$want" ]; then
	apt_conf=$("$root/scripts/apt-bookworm.sh")
	mkdir -p "$host_debs"
	APT_CONFIG="$apt_conf" apt-get update -qq
	# $want is package names, split on purpose.
	# shellcheck disable=SC2086
	(cd "$host_debs" && APT_CONFIG="$apt_conf" apt-get download -qq $want 2>/dev/null)
	[ -x "$rustweb/usr/bin/rustc" ] || rm -rf "$rustweb"
	mkdir -p "$rustweb"
	for p in $want; do
		# The newest download of each package (older ones stay cached).
		dpkg-deb -x "$(ls -v "$host_debs/${p}_"*.deb | tail -n 1)" "$rustweb"
	done
fi
# The std sources must be the compiler's release.
if [ -n "$src" ]; then
	release=$(LD_LIBRARY_PATH="$rustweb/usr/lib/x86_64-linux-gnu" "$rustweb/usr/bin/rustc" --version | cut -d' ' -f2)
	[ -f "$rustweb/usr/src/rustc-$release/library/Cargo.toml" ] || {
		echo "rustweb: $rustweb has no std sources of rustc $release" >&2
		exit 1
	}
fi
# The wrapper is written every time: a cache copied from elsewhere then
# runs its own compiler.
cat >"$rustweb/rustc" <<WRAP
#!/bin/sh
export LD_LIBRARY_PATH="$rustweb/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$rustweb/usr/bin/rustc" "\$@"
WRAP
chmod +x "$rustweb/rustc"
echo "$rustweb"
