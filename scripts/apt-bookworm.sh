#!/bin/sh
# Writes the private apt configuration for bookworm, its updates, backports
# and security suites under $UNIBPF_CACHE (the machine's apt sources are
# untouched) and prints the path of its apt.conf, for APT_CONFIG. Written
# every time, so a cache copied from elsewhere points at itself.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${UNIBPF_CACHE:-"$root/build/cache"}
apt_dir="$cache/apt-bookworm"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d"
cat >"$apt_dir/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $mirror bookworm-backports main
deb http://deb.debian.org/debian-security bookworm-security main
SRC
cat >"$apt_dir/apt.conf" <<CONF
Dir::Etc::SourceList "$apt_dir/sources.list";
Dir::Etc::SourceParts "$apt_dir/sources.list.d";
Dir::State::Lists "$apt_dir/lists";
CONF
echo "$apt_dir/apt.conf"
