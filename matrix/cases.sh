# The matrix's cases: each runs one program of the suite, drives its workload
# and prints what happened. The host applies the same checks as the program
# tests to this output. Works in busybox sh (VMs) and dash (the local host).
# Needs $UNIBPF and $PROGRAMS; $CELL_SECONDS bounds each run (default 90).
#
# Every case runs twice: NAME.wasm under `unibpf run`, then NAME.native (the
# same C control plane built against libbpf) when there is one.
#
# Output per case:
#   UNIBPF-CASE-BEGIN NAME RUNNER        (RUNNER: unibpf or native)
#   FACT key=value      (what the workload did: pids, paths)
#   OUT line / ERR line (the program's stdout / stderr)
#   UNIBPF-CASE-END NAME rc=N ms=N

uptime_ms() {
	read -r up _ </proc/uptime
	echo $(( ${up%.*} * 1000 + $(echo "${up#*.}" | cut -c1-2) * 10 ))
}

fact() { echo "FACT $1"; }

# case_start NAME READY_TEXT ARGS...: starts program NAME with ARGS under
# $RUNNER, waits until its stderr shows READY_TEXT (false if it exits or
# $READY_SECONDS pass first).
case_start() {
	CASE=$1 READY=$2
	shift 2
	echo "UNIBPF-CASE-BEGIN $CASE $RUNNER"
	CASE_T0=$(uptime_ms)
	# Per-case files, created before the module starts: the wait below must
	# never see an earlier case's ready line.
	OUT=/tmp/case-$CASE.out ERR=/tmp/case-$CASE.err
	: >"$OUT"
	: >"$ERR"
	if [ "$RUNNER" = native ]; then
		"$PROGRAMS/$CASE.native" "$@" >"$OUT" 2>"$ERR" &
	else
		"$UNIBPF" run --explain --timeout 120s "${CASE_WASM:-$PROGRAMS/$CASE.wasm}" "$@" >"$OUT" 2>"$ERR" &
	fi
	CASE_PID=$!
	# The cell's own deadline: a program that hangs is killed, and the
	# matrix goes on with the next cell.
	rm -f "/tmp/case-$CASE.timeout"
	(sleep "$CELL_SECONDS" && touch "/tmp/case-$CASE.timeout" && kill -KILL "$CASE_PID") \
		>/dev/null 2>&1 </dev/null &
	WATCHDOG=$!
	n=0
	while ! case_ready; do
		if ! kill -0 "$CASE_PID" 2>/dev/null || [ "$n" -ge $((READY_SECONDS * 10)) ]; then
			return 1
		fi
		sleep 0.1
		n=$((n + 1))
	done
}

# case_ready: whether the running case printed $READY: a grep pattern on
# stderr, or with READY_TEXT=1 a text on stdout or stderr.
case_ready() {
	if [ -n "${READY_TEXT:-}" ]; then
		grep -qF -e "$READY" "$OUT" "$ERR" 2>/dev/null
	else
		grep -q "$READY" "$ERR" 2>/dev/null
	fi
}

# case_end: lets events drain, stops the module like Ctrl-C, reports.
case_end() {
	sleep 1
	kill -INT "$CASE_PID" 2>/dev/null
	wait "$CASE_PID"
	rc=$?
	kill "$WATCHDOG" 2>/dev/null
	[ -e "/tmp/case-$CASE.timeout" ] && fact "cell_timeout=$CELL_SECONDS"
	sed 's/^/OUT /' "$OUT"
	sed 's/^/ERR /' "$ERR"
	echo "UNIBPF-CASE-END $CASE rc=$rc ms=$(($(uptime_ms) - CASE_T0))"
}

case_bootstrap() {
	case_bootstrap_with bootstrap
}

case_bootstrap_with() {
	if case_start "$1" tracing; then
		/bin/sh -c 'exit 3' &
		p=$!
		wait $p
		fact "sh_pid=$p"
		/bin/sleep 0.3 &
		p=$!
		wait $p
		fact "sleep_pid=$p"
	fi
	case_end
}

# bootstrap's control plane in Rust (the unibpf-guest SDK): the same object,
# the same workload, the same checks.
case_bootstrap_rs() {
	case_bootstrap_with bootstrap_rs
}

case_execve() {
	if case_start execve tracing; then
		# Not a busybox applet: busybox may run those without an exec.
		"$UNIBPF" first "two words" "" >/dev/null 2>&1 &
		p=$!
		wait $p
		fact "exec_pid=$p"
		fact "argv0=$UNIBPF"
	fi
	case_end
}

case_opensnoop() {
	if case_start opensnoop "tracing opens" -p $$; then
		echo present >/tmp/opensnoop-present
		# Opened by this shell itself (its pid is the one traced). A regular
		# builtin: a failed redirection on ':' would end a POSIX shell.
		true </tmp/opensnoop-present
		true </tmp/opensnoop-missing 2>/dev/null
		fact "shell_pid=$$"
		fact "present=/tmp/opensnoop-present"
		fact "missing=/tmp/opensnoop-missing"
	fi
	case_end
}

case_runqlat() {
	rm -f /tmp/runqlat.fifo
	mkfifo /tmp/runqlat.fifo
	# The workload waits on the FIFO, so its pid is known before tracing.
	"$PROGRAMS/runqlat.target" 25 </tmp/runqlat.fifo &
	t=$!
	if case_start runqlat sampling -p $t; then
		echo x >/tmp/runqlat.fifo
		wait $t
		fact "target_pid=$t"
		fact "sleeps=25"
	else
		echo x >/tmp/runqlat.fifo
		wait $t
	fi
	case_end
}

case_uprobe() {
	rm -f /tmp/uprobe.fifo
	mkfifo /tmp/uprobe.fifo
	"$PROGRAMS/uprobe.target" 40 2 -5000000000 3 </tmp/uprobe.fifo >/dev/null &
	t=$!
	if case_start uprobe probing "$PROGRAMS/uprobe.target"; then
		echo x >/tmp/uprobe.fifo
		wait $t
		fact "target_pid=$t"
	else
		echo x >/tmp/uprobe.fifo
		wait $t
	fi
	case_end
}

case_xdp() {
	if case_start xdp "counting packets" lo; then
		"$PROGRAMS/xdp.target" 127.0.0.1 9317 6 300
		fact "datagrams=6"
		fact "frame=342"
		fact "port=9317"
	fi
	case_end
}

case_exitsnoop() {
	if case_start exitsnoop "tracing process exits"; then
		/bin/sh -c 'exit 7' &
		p=$!
		wait $p
		fact "exit_pid=$p"
	fi
	case_end
}

case_kprobe() {
	echo x >/tmp/kprobe-victim
	if case_start kprobe "tracing do_unlinkat"; then
		rm /tmp/kprobe-victim
		fact "path=/tmp/kprobe-victim"
	fi
	case_end
}

case_tcpconnlat() {
	if case_start tcpconnlat "tracing TCP connects"; then
		# Connects to itself over loopback; the file stands in for cgroup.procs.
		ports=$("$PROGRAMS/sockops.target" /tmp/tcpconnlat-procs)
		fact "server_port=$(echo "$ports" | sed -n 's/.*server=\([0-9]*\).*/\1/p')"
	fi
	case_end
}

case_lsm() {
	mkdir -p /tmp/unibpf-keep
	if case_start lsm "protecting directories" unibpf-keep; then
		(cd /tmp && rmdir unibpf-keep 2>/dev/null)
		fact "rmdir_rc=$?"
		if [ -d /tmp/unibpf-keep ]; then fact "still_there=1"; else fact "still_there=0"; fi
	fi
	case_end
	rmdir /tmp/unibpf-keep 2>/dev/null
}

# A user's module (`unibpf matrix --module`), set up by the matrix in
# cases.env: MODULE_WASM, MODULE_ARGV (its arguments, shell-quoted words),
# MODULE_READY (a text it prints when ready; empty: ready once unibpf has
# attached its first program), MODULE_SETTLE (seconds between ready and the
# workload), MODULE_WORKLOAD (a command for `sh -c`, or empty). Ready within
# half the cell's time, or the workload does not run.
case_module() {
	CASE_WASM=$MODULE_WASM READY_TEXT=1 READY_SECONDS=$((CELL_SECONDS / 2))
	ready=${MODULE_READY:-"unibpf: info: attached program"}
	# Only the runtime's attach lines besides warnings and errors.
	export UNIBPF_LOG=warn,unibpf_abi=info
	if eval "case_start module \"\$ready\" $MODULE_ARGV"; then
		sleep "$MODULE_SETTLE"
		if [ -n "$MODULE_WORKLOAD" ]; then
			timeout "$CELL_SECONDS" sh -c "$MODULE_WORKLOAD" >/tmp/workload.out 2>/tmp/workload.err </dev/null
			rc=$?
			fact "workload_rc=$rc"
			[ "$rc" = 0 ] || fact "workload_error=$(tail -n 1 /tmp/workload.err)"
		fi
	elif kill -0 "$CASE_PID" 2>/dev/null; then
		fact "not_ready=$READY_SECONDS"
	else
		fact "ended_before_ready=1"
	fi
	unset UNIBPF_LOG
	case_end
}

READY_SECONDS=${READY_SECONDS:-60}
CELL_SECONDS=${CELL_SECONDS:-90}

# veth_up NAME: a veth pair NAME + peer, both up; prints the peer's name.
# (busybox's ip ignores `peer name`, so the kernel names the peer.)
veth_up() {
	ip link del "$1" 2>/dev/null
	ip link add "$1" type veth 2>/dev/null || return 1
	peer=$(ip -o link show "$1" | sed -n "s/^[0-9]*: $1@\([^:]*\):.*/\1/p")
	ip link set "$1" up && ip link set "$peer" up && echo "$peer"
}

# tc and sockfilter: frames written onto the peer arrive at NAME's ingress.
case_tc() {
	peer=$(veth_up umx-tc) || peer=unavailable
	if case_start tc "counting ingress" umx-tc; then
		"$PROGRAMS/tc.target" "$peer" 4 200 9318
		fact "datagrams=4"
		fact "frame=242"
	fi
	case_end
	ip link del umx-tc 2>/dev/null
}

case_sockfilter() {
	peer=$(veth_up umx-sf) || peer=unavailable
	if case_start sockfilter "counting packets" umx-sf; then
		"$PROGRAMS/tc.target" "$peer" 5 64 9319
		fact "datagrams=5"
	fi
	case_end
	ip link del umx-sf 2>/dev/null
}

# sockops: a TCP connection over loopback from inside a fresh cgroup.
case_sockops() {
	# The cgroup v2 hierarchy, wherever this host mounts it.
	root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	cg=${root:-/sys/fs/cgroup}/umx-sockops
	mkdir -p "$cg"
	if case_start sockops "adding TCP options" "$cg"; then
		ports=$("$PROGRAMS/sockops.target" "$cg/cgroup.procs")
		fact "client_port=$(echo "$ports" | sed -n 's/.*client=\([0-9]*\).*/\1/p')"
		fact "server_port=$(echo "$ports" | sed -n 's/.*server=\([0-9]*\).*/\1/p')"
	fi
	case_end
	rmdir "$cg" 2>/dev/null
}

run_cases() {
	for c in "$@"; do
		RUNNER=unibpf
		"case_$c"
		if [ -x "$PROGRAMS/$c.native" ]; then
			RUNNER=native
			"case_$c"
		fi
	done
}
