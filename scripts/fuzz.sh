#!/bin/sh
# Fuzzes the pure parsers and rewriting passes with cargo fuzz (fuzz/):
# object_parse, btf_parse, btf_hide_types, min_core (against part of this
# kernel's BTF), gen_types and gen_skeleton, and the wasm_bpf ABI under
# sequences of host calls against the fake backend (abi_calls).
#   scripts/fuzz.sh                  every target for 30 s: the bounded CI run
#   scripts/fuzz.sh --long [SECONDS] every target for SECONDS (default 1800)
#   scripts/fuzz.sh TARGET [SECONDS] one target (default 30 s)
# FUZZ_SECONDS changes the default time per target.
#
# Seeds are the program suite's and the test guests' BPF objects and their
# .BTF sections, built once into build/fuzz/seeds (delete it to rebuild;
# UNIBPF=path/to/unibpf skips building the generator). Corpora grow in
# build/fuzz/corpus/TARGET and are reused by later runs. A crash, panic,
# hang (-timeout) or excess memory (-rss_limit_mb) fails the script, which
# prints the input that caused it (saved under fuzz/artifacts/TARGET/) and
# the command that replays it.
#
# With a nightly toolchain the targets run under AddressSanitizer; otherwise
# on stable, with RUSTC_BOOTSTRAP=1 for cargo fuzz's unstable flags and no
# sanitizer (the fuzzed crates have no unsafe code; panics, overflow checks,
# hangs and memory limits all still apply). FUZZ_TOOLCHAIN=stable forces that.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

all_targets="object_parse btf_parse btf_hide_types min_core gen_types gen_skeleton abi_calls vm_run"
seconds=${FUZZ_SECONDS:-30}
targets=$all_targets
case "${1:-}" in
--long)
	seconds=${2:-1800}
	;;
"") ;;
-*)
	sed -n '2,8p' "$0" >&2
	exit 2
	;;
*)
	echo " $all_targets " | grep -q " $1 " || {
		echo "fuzz: no target $1 (targets: $all_targets)" >&2
		exit 2
	}
	targets=$1
	seconds=${2:-$seconds}
	;;
esac

command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

if [ "${FUZZ_TOOLCHAIN:-}" != stable ] && rustup run nightly rustc --version >/dev/null 2>&1; then
	cargo_fuzz() { cargo +nightly fuzz "$@"; }
	sanitizer=address
	replay="cargo +nightly fuzz run"
else
	# Only for cargo fuzz: elsewhere it would change cargo's fingerprints.
	cargo_fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
	sanitizer=none
	replay="RUSTC_BOOTSTRAP=1 cargo fuzz run"
fi
flags="--debug-assertions --sanitizer $sanitizer"
replay="$replay $flags"

work="$root/build/fuzz"
seeds="$work/seeds"
objects="$work/objects"
# abi_calls loads the test guests' objects from here.
export UNIBPF_FUZZ_OBJECTS="$objects/guests"

# BPF objects (DWARF stripped: the parsers never read it, and smaller inputs
# fuzz faster) and their .BTF sections.
build_seeds() {
	rm -rf "$seeds" "$objects"
	mkdir -p "$objects/programs" "$objects/guests" "$seeds/objects" "$seeds/btf"
	if [ -z "${UNIBPF:-}" ]; then
		cargo build --quiet -p unibpf-cli
		UNIBPF="$root/target/debug/unibpf"
	fi
	# The suite's control planes are not needed, only its objects; a host
	# that cannot build them all still fuzzes with what did build.
	UNIBPF=$UNIBPF RUST_GUESTS=no NATIVE_CROSS=no \
		scripts/build-programs.sh "$objects/programs" >"$work/seeds.log" 2>&1 ||
		echo "fuzz: warning: build-programs.sh failed (see $work/seeds.log); fewer seeds" >&2
	scripts/build-guests.sh "$objects/guests" >>"$work/seeds.log" 2>&1 ||
		echo "fuzz: warning: build-guests.sh failed (see $work/seeds.log); fewer seeds" >&2
	# The layout test's object has the richest types (bitfields, unions,
	# nested arrays) for gen types.
	mkdir -p "$objects/layout"
	clang -g -O2 -target bpf -c tests/layout/layout.bpf.c -o "$objects/layout/layout.bpf.o" \
		>>"$work/seeds.log" 2>&1 ||
		echo "fuzz: warning: tests/layout/layout.bpf.c did not build; fewer seeds" >&2
	for o in "$objects"/*/*.bpf.o; do
		[ -f "$o" ] || continue
		name=$(basename "$(dirname "$o")")-$(basename "$o" .bpf.o)
		llvm-strip -g -o "$seeds/objects/$name.bpf.o" "$o"
		llvm-objcopy --dump-section ".BTF=$seeds/btf/$name.btf" "$o" /dev/null 2>/dev/null ||
			true
	done
	count=$(ls "$seeds/objects" | wc -l)
	if [ "$count" -eq 0 ]; then
		echo "fuzz: no seed objects built (see $work/seeds.log); is scripts/install-deps.sh done?" >&2
		exit 1
	fi
	touch "$seeds/.done"
}
[ -f "$seeds/.done" ] || build_seeds
# abi_calls's input is a sequence of choices, not a file format: it starts
# from a few random ones.
if [ ! -d "$seeds/abi" ]; then
	mkdir -p "$seeds/abi"
	for i in 1 2 3 4; do
		head -c 512 /dev/urandom >"$seeds/abi/random-$i"
	done
fi
# vm_run's input is instruction bytes: the suite's program code (map
# references unresolved, which the verifier refuses, a start for mutation)
# and two small valid programs.
if [ ! -d "$seeds/vm" ]; then
	mkdir -p "$seeds/vm"
	for o in "$seeds"/objects/*.bpf.o; do
		llvm-objcopy -O binary -w -j 'tp*' -j 'tracepoint*' -j 'kprobe*' -j 'uprobe*' \
			-j 'xdp*' -j 'tc*' -j 'socket*' -j '.text' "$o" "$seeds/vm/$(basename "$o" .bpf.o).bin" \
			2>/dev/null || true
	done
	# r0 = 42; exit
	printf '\267\000\000\000\052\000\000\000\225\000\000\000\000\000\000\000' >"$seeds/vm/ret42.bin"
	# r0 = *(u64 *)(r1 + 8); r0 += 1; exit
	printf '\171\020\010\000\000\000\000\000\007\000\000\000\001\000\000\000\225\000\000\000\000\000\000\000' >"$seeds/vm/ctx.bin"
fi
echo "fuzz: seeds: $(ls "$seeds/objects" | wc -l) objects, $(ls "$seeds/btf" | wc -l) BTF sections in $seeds"

# One build for every target, timed apart from the runs.
cargo_fuzz build $flags

status=0
for t in $targets; do
	case $t in
	btf_*) seed=$seeds/btf ;;
	abi_*) seed=$seeds/abi ;;
	vm_*) seed=$seeds/vm ;;
	*) seed=$seeds/objects ;;
	esac
	corpus="$work/corpus/$t"
	artifacts="$root/fuzz/artifacts/$t"
	log="$work/logs/$t.log"
	mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
	before=$(ls "$artifacts" | wc -l)
	# One process, no forks (-jobs would start workers); 64 KiB covers
	# every seed; 2 GiB and 10 s per input are far above any real object.
	if cargo_fuzz run $flags "$t" \
		"$corpus" "$seed" -- \
		-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 >"$log" 2>&1; then
		summary=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 |
			sed -E 's/.*(cov: [0-9]+).*(corp: [^ ]+).*(exec\/s: [0-9]+).*/\1 \2 \3/')
		echo "fuzz: $t: ok, ${seconds}s: $summary"
	else
		status=1
		echo "fuzz: $t: FAILED (log: $log)" >&2
		# The panic message or the sanitizer's verdict, not the backtraces.
		grep -E -A 2 'panicked at' "$log" | head -n 3 >&2 || true
		grep -E '^(==[0-9]+== ?ERROR|SUMMARY)' "$log" | head -n 2 >&2 || tail -n 20 "$log" >&2
		if [ "$(ls "$artifacts" | wc -l)" -gt "$before" ]; then
			for a in $(ls -t "$artifacts" | head -n 1); do
				echo "fuzz: $t: crashing input: $artifacts/$a" >&2
				echo "fuzz: replay: $replay $t $artifacts/$a" >&2
			done
		fi
	fi
done
exit $status
