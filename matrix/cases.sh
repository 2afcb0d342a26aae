# The matrix's cases: each runs one program of the suite, drives its workload
# and prints what happened. The host applies the same checks as the program
# tests to this output. Works in busybox sh (VMs) and dash (the local host).
# Needs $UNIBPF and $PROGRAMS; $CELL_SECONDS bounds each run (default 90).
#
# Every case runs twice: NAME.wasm under `unibpf run`, then NAME.native (the
# same C control plane built against libbpf) when there is one.
#
# A case's workload is its work_NAME function, given to the program one of
# two ways. Under the kernel backend (and natively) the program sees every
# process: the workload runs beside it, in this shell, once it is ready. On
# a userspace host (USERSPACE=1 in the host's settings) unibpf gets no bpf()
# and runs the programs on its userspace backend, which sees only the
# processes it traces: unibpf starts the workload itself (`--cmd`, a shell
# that sources this file, $CASES_SH) once the programs are attached, and
# stops when it has ended. The workload's facts then come back through a
# file. With RUN_UID set, the programs (and so the workloads unibpf starts)
# run as that uid and gid without capabilities, but the ones a case names in
# CASE_CAPS (setpriv).
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

# fact KEY=VALUE: what the workload did; from a workload unibpf started, into
# the file its case reads back.
fact() {
	if [ -n "${WORK_FACTS:-}" ]; then
		echo "$1" >>"$WORK_FACTS"
	else
		echo "FACT $1"
	fi
}

# traced: whether this run hands its workload to unibpf (a userspace host).
traced() { [ -n "${USERSPACE:-}" ] && [ "$RUNNER" = unibpf ]; }

# as_host_user: sets AS_USER, the words that run a program as the host's
# user (empty: root, as this shell).
as_host_user() {
	AS_USER=
	[ -n "${RUN_UID:-}" ] || return 0
	# (Shell variables are global: run_cases's loop is over $c.)
	caps=-all amb=
	for cap in ${CASE_CAPS:-}; do
		caps="$caps,+$cap" amb="${amb:+$amb,}+$cap"
	done
	AS_USER="setpriv --reuid=$RUN_UID --regid=$RUN_UID --clear-groups --inh-caps=$caps${amb:+ --ambient-caps=$amb}"
}

# work_cmd WORK: the command unibpf starts for a traced workload: a shell
# that runs WORK (a work_ function and its arguments) with this file's
# functions, its facts into $CASE_FACTS, its output into $CASE_WORK_OUT (the
# program's output stays the program's).
work_cmd() {
	echo "/bin/sh -c 'UNIBPF=$UNIBPF PROGRAMS=$PROGRAMS WORK_FACTS=$CASE_FACTS; . $CASES_SH; $1 >$CASE_WORK_OUT 2>&1'"
}

# case_start NAME READY_TEXT WORK ARGS...: starts program NAME with ARGS
# under $RUNNER; true once its stderr shows READY_TEXT, when the caller is to
# run WORK beside it. False if it exits or $READY_SECONDS pass first, and on
# a traced run, where unibpf starts WORK itself.
case_start() {
	CASE=$1 READY=$2 WORK=$3
	shift 3
	echo "UNIBPF-CASE-BEGIN $CASE $RUNNER"
	CASE_T0=$(uptime_ms)
	# Per-case files, created before the module starts: the wait below must
	# never see an earlier case's ready line.
	OUT=/tmp/case-$CASE.out ERR=/tmp/case-$CASE.err
	CASE_FACTS=/tmp/case-$CASE.facts CASE_WORK_OUT=/tmp/case-$CASE.work
	: >"$OUT"
	: >"$ERR"
	rm -f "$CASE_FACTS" "$CASE_WORK_OUT"
	as_host_user
	TRACED=
	if [ "$RUNNER" = native ]; then
		$AS_USER "$PROGRAMS/$CASE.native" "$@" >"$OUT" 2>"$ERR" &
	elif traced; then
		TRACED=1
		$AS_USER "$UNIBPF" run --explain --timeout 120s --cmd "$(work_cmd "$WORK")" \
			"${CASE_WASM:-$PROGRAMS/$CASE.wasm}" "$@" >"$OUT" 2>"$ERR" &
	else
		$AS_USER "$UNIBPF" run --explain --timeout 120s "${CASE_WASM:-$PROGRAMS/$CASE.wasm}" "$@" >"$OUT" 2>"$ERR" &
	fi
	CASE_PID=$!
	# The cell's own deadline: a program that hangs is killed, and the
	# matrix goes on with the next cell.
	rm -f "/tmp/case-$CASE.timeout"
	(sleep "$CELL_SECONDS" && touch "/tmp/case-$CASE.timeout" && kill -KILL "$CASE_PID") \
		>/dev/null 2>&1 </dev/null &
	WATCHDOG=$!
	[ -z "$TRACED" ] || return 1
	n=0
	while ! case_ready; do
		if ! kill -0 "$CASE_PID" 2>/dev/null || [ "$n" -ge $((READY_SECONDS * 10)) ]; then
			return 1
		fi
		sleep 0.1
		n=$((n + 1))
	done
}

# case_run NAME READY_TEXT WORK ARGS...: one run of a case whose workload
# needs nothing from the case but WORK.
case_run() {
	if case_start "$@"; then
		$3
	fi
	case_end
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

# case_end: lets events drain, stops the module like Ctrl-C, reports. A
# traced run stops by itself once its workload has ended.
case_end() {
	if [ -z "$TRACED" ]; then
		sleep 1
		kill -INT "$CASE_PID" 2>/dev/null
	fi
	wait "$CASE_PID"
	rc=$?
	kill "$WATCHDOG" 2>/dev/null
	[ -e "/tmp/case-$CASE.timeout" ] && fact "cell_timeout=$CELL_SECONDS"
	if [ -n "$TRACED" ]; then
		fact "workload=traced"
		[ ! -f "$CASE_FACTS" ] || sed 's/^/FACT /' "$CASE_FACTS"
		# Not parsed: for whoever reads the console.
		[ ! -f "$CASE_WORK_OUT" ] || sed 's/^/WORK /' "$CASE_WORK_OUT"
	fi
	sed 's/^/OUT /' "$OUT"
	sed 's/^/ERR /' "$ERR"
	echo "UNIBPF-CASE-END $CASE rc=$rc ms=$(($(uptime_ms) - CASE_T0))"
}

case_bootstrap() {
	case_run bootstrap tracing work_bootstrap
}

# bootstrap's control plane in Rust (the unibpf-guest SDK): the same object,
# the same workload, the same checks.
case_bootstrap_rs() {
	case_run bootstrap_rs tracing work_bootstrap
}

work_bootstrap() {
	/bin/sh -c 'exit 3' &
	p=$!
	wait $p
	fact "sh_pid=$p"
	/bin/sleep 0.3 &
	p=$!
	wait $p
	fact "sleep_pid=$p"
}

case_execve() {
	case_run execve tracing work_execve
}

work_execve() {
	# Not a busybox applet: busybox may run those without an exec.
	"$UNIBPF" first "two words" "" >/dev/null 2>&1 &
	p=$!
	wait $p
	fact "exec_pid=$p"
	fact "argv0=$UNIBPF"
}

case_opensnoop() {
	echo present >/tmp/opensnoop-present
	if traced; then
		# unibpf sees only the workload: nothing else to filter out.
		case_run opensnoop "tracing opens" work_opensnoop
	else
		# The workload runs in this shell: its pid is the one traced.
		case_run opensnoop "tracing opens" work_opensnoop -p $$
	fi
}

work_opensnoop() {
	# Opened by this shell itself. A regular builtin: a failed redirection
	# on ':' would end a POSIX shell.
	true </tmp/opensnoop-present
	true </tmp/opensnoop-missing 2>/dev/null
	fact "shell_pid=$$"
	fact "present=/tmp/opensnoop-present"
	fact "missing=/tmp/opensnoop-missing"
}

case_runqlat() {
	if traced; then
		# The workload becomes the target; the byte it waits for is there.
		echo x >/tmp/runqlat.go
		case_run runqlat sampling work_runqlat
		return
	fi
	rm -f /tmp/runqlat.fifo
	mkfifo /tmp/runqlat.fifo
	# The workload waits on the FIFO, so its pid is known before tracing.
	"$PROGRAMS/runqlat.target" 25 </tmp/runqlat.fifo &
	t=$!
	if case_start runqlat sampling "" -p $t; then
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

# Traced only: the shell that unibpf starts becomes the target (same pid).
work_runqlat() {
	fact "target_pid=$$"
	fact "sleeps=25"
	exec "$PROGRAMS/runqlat.target" 25 </tmp/runqlat.go
}

case_uprobe() {
	if traced; then
		echo x >/tmp/uprobe.go
		case_run uprobe probing work_uprobe "$PROGRAMS/uprobe.target"
		return
	fi
	rm -f /tmp/uprobe.fifo
	mkfifo /tmp/uprobe.fifo
	"$PROGRAMS/uprobe.target" 40 2 -5000000000 3 </tmp/uprobe.fifo >/dev/null &
	t=$!
	if case_start uprobe probing "" "$PROGRAMS/uprobe.target"; then
		echo x >/tmp/uprobe.fifo
		wait $t
		fact "target_pid=$t"
	else
		echo x >/tmp/uprobe.fifo
		wait $t
	fi
	case_end
}

# Traced only, as work_runqlat.
work_uprobe() {
	fact "target_pid=$$"
	exec "$PROGRAMS/uprobe.target" 40 2 -5000000000 3 </tmp/uprobe.go >/dev/null
}

# The packet cases' programs read an AF_PACKET socket on the userspace
# backend, and their workloads write raw frames: both need CAP_NET_RAW.
case_xdp() {
	CASE_CAPS=net_raw
	case_run xdp "counting packets" work_xdp lo
	CASE_CAPS=
}

work_xdp() {
	"$PROGRAMS/xdp.target" 127.0.0.1 9317 6 300
	fact "datagrams=6"
	fact "frame=342"
	fact "port=9317"
}

case_exitsnoop() {
	case_run exitsnoop "tracing process exits" work_exitsnoop
}

work_exitsnoop() {
	/bin/sh -c 'exit 7' &
	p=$!
	wait $p
	fact "exit_pid=$p"
}

# own PATH: PATH belongs to the user the programs run as.
own() { [ -z "${RUN_UID:-}" ] || chown "$RUN_UID:$RUN_UID" "$1"; }

case_kprobe() {
	echo x >/tmp/kprobe-victim
	own /tmp/kprobe-victim
	case_run kprobe "tracing do_unlinkat" work_kprobe
}

work_kprobe() {
	rm /tmp/kprobe-victim
	fact "path=/tmp/kprobe-victim"
}

case_tcpconnlat() {
	case_run tcpconnlat "tracing TCP connects" work_tcpconnlat
}

work_tcpconnlat() {
	# Connects to itself over loopback; the file stands in for cgroup.procs.
	ports=$("$PROGRAMS/sockops.target" /tmp/tcpconnlat-procs-$$)
	rm -f /tmp/tcpconnlat-procs-$$
	fact "server_port=$(echo "$ports" | sed -n 's/.*server=\([0-9]*\).*/\1/p')"
}

case_lsm() {
	mkdir -p /tmp/unibpf-keep
	own /tmp/unibpf-keep
	case_run lsm "protecting directories" work_lsm unibpf-keep
	rmdir /tmp/unibpf-keep 2>/dev/null
}

work_lsm() {
	(cd /tmp && rmdir unibpf-keep 2>/dev/null)
	fact "rmdir_rc=$?"
	if [ -d /tmp/unibpf-keep ]; then fact "still_there=1"; else fact "still_there=0"; fi
}

# A user's module (`unibpf matrix --module`), set up by the matrix in
# cases.env: MODULE_WASM, MODULE_ARGV (its arguments, shell-quoted words),
# MODULE_READY (a text it prints when ready; empty: ready once unibpf has
# attached its first program), MODULE_SETTLE (seconds between ready and the
# workload), MODULE_WORKLOAD (a command for `sh -c`, or empty). Ready within
# half the cell's time, or the workload does not run. On a userspace host
# unibpf starts the workload once the programs are attached.
case_module() {
	CASE_WASM=$MODULE_WASM READY_TEXT=1 READY_SECONDS=$((CELL_SECONDS / 2))
	ready=${MODULE_READY:-"unibpf: info: attached program"}
	# Only the runtime's attach lines besides warnings and errors.
	export UNIBPF_LOG=warn,unibpf_abi=info
	# For a workload unibpf starts.
	export MODULE_WORKLOAD CELL_SECONDS
	if eval "case_start module \"\$ready\" work_module $MODULE_ARGV"; then
		sleep "$MODULE_SETTLE"
		work_module
	elif traced; then
		: # unibpf runs the workload
	elif kill -0 "$CASE_PID" 2>/dev/null; then
		fact "not_ready=$READY_SECONDS"
	else
		fact "ended_before_ready=1"
	fi
	unset UNIBPF_LOG
	case_end
}

work_module() {
	[ -n "$MODULE_WORKLOAD" ] || return 0
	timeout "$CELL_SECONDS" sh -c "$MODULE_WORKLOAD" >/tmp/workload-$$.out 2>/tmp/workload-$$.err </dev/null
	rc=$?
	fact "workload_rc=$rc"
	[ "$rc" = 0 ] || fact "workload_error=$(tail -n 1 /tmp/workload-$$.err)"
	rm -f /tmp/workload-$$.out /tmp/workload-$$.err
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
	CASE_CAPS=net_raw
	case_run tc "counting ingress" "work_tc $peer" umx-tc
	CASE_CAPS=
	ip link del umx-tc 2>/dev/null
}

work_tc() {
	"$PROGRAMS/tc.target" "$1" 4 200 9318
	fact "datagrams=4"
	fact "frame=242"
}

case_sockfilter() {
	peer=$(veth_up umx-sf) || peer=unavailable
	CASE_CAPS=net_raw
	case_run sockfilter "counting packets" "work_sockfilter $peer" umx-sf
	CASE_CAPS=
	ip link del umx-sf 2>/dev/null
}

work_sockfilter() {
	"$PROGRAMS/tc.target" "$1" 5 64 9319
	fact "datagrams=5"
}

# sockops: a TCP connection over loopback from inside a fresh cgroup.
case_sockops() {
	# The cgroup v2 hierarchy, wherever this host mounts it.
	root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	cg=${root:-/sys/fs/cgroup}/umx-sockops
	mkdir -p "$cg"
	case_run sockops "adding TCP options" "work_sockops $cg" "$cg"
	rmdir "$cg" 2>/dev/null
}

work_sockops() {
	ports=$("$PROGRAMS/sockops.target" "$1/cgroup.procs")
	fact "client_port=$(echo "$ports" | sed -n 's/.*client=\([0-9]*\).*/\1/p')"
	fact "server_port=$(echo "$ports" | sed -n 's/.*server=\([0-9]*\).*/\1/p')"
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
