#!/bin/sh
# Cross-builds the userspace backend's unit tests and its VM tests (alu,
# atomic, calls, jmp, memory, verify: the ones that need nothing of Linux)
# for Windows, as scripts/build-windows.sh builds unibpf.exe, and runs them
# under wine. Measured here: about 5 minutes to build after
# build-windows.sh (2 when built), seconds to run.
#   scripts/test-windows-vm.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
target=x86_64-pc-windows-gnu
"$root/scripts/build-windows.sh" >/dev/null
out="${CARGO_TARGET_DIR:-$root/target}/windows"
rustweb=$("$root/scripts/rustweb.sh" --src)
build() {
	env RUSTC="$rustweb/rustc" RUSTC_BOOTSTRAP=1 \
		CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
		CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc \
		AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar \
		CARGO_TARGET_DIR="$out" \
		cargo test --release --target "$target" -Zbuild-std=std,panic_unwind \
		--manifest-path "$root/Cargo.toml" -p unibpf-backend-userspace \
		--lib --test alu --test atomic --test calls --test jmp --test memory --test verify "$@"
}
build --no-run --quiet 2>/dev/null
# Test harnesses only, which live in deps/ (the package's binary, built
# for the integration tests, is listed too).
exes=$(build --no-run --message-format=json 2>/dev/null |
	sed -n 's/.*"executable":"\([^"]*\/deps\/[^"]*\)".*/\1/p')
export WINEPREFIX="$out/wineprefix" WINEDEBUG=-all
export WINEPATH="Z:$(echo "$out/wine-dlls" | tr / '\\')"
export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree,mshtml="
status=0
for exe in $exes; do
	echo "== $(basename "$exe")"
	wine "$exe" --quiet || status=1
done
exit $status
