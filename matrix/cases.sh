# The matrix's cases: each runs one program of the suite under `unibpf run`,
# drives its workload and prints what happened. The host applies the same
# checks as the program tests to this output. Works in busybox sh (VMs) and
# dash (the local host). Needs $UNIBPF and $PROGRAMS.
#
# Output per case:
#   UNIBPF-CASE-BEGIN NAME
#   FACT key=value      (what the workload did: pids, paths)
#   OUT line / ERR line (the module's stdout / stderr)
#   UNIBPF-CASE-END NAME rc=N ms=N

uptime_ms() {
	read -r up _ </proc/uptime
	echo $(( ${up%.*} * 1000 + $(echo "${up#*.}" | cut -c1-2) * 10 ))
}

fact() { echo "FACT $1"; }

# case_start NAME READY_TEXT ARGS...: starts the module, waits until its
# stderr shows READY_TEXT (false if it exits or 60 s pass first).
case_start() {
	CASE=$1 READY=$2
	shift 2
	echo "UNIBPF-CASE-BEGIN $CASE"
	CASE_T0=$(uptime_ms)
	# Per-case files, created before the module starts: the wait below must
	# never see an earlier case's ready line.
	OUT=/tmp/case-$CASE.out ERR=/tmp/case-$CASE.err
	: >"$OUT"
	: >"$ERR"
	"$UNIBPF" run --explain --timeout 120s "$@" >"$OUT" 2>"$ERR" &
	CASE_PID=$!
	n=0
	while ! grep -q "$READY" "$ERR" 2>/dev/null; do
		if ! kill -0 "$CASE_PID" 2>/dev/null || [ "$n" -ge 600 ]; then
			return 1
		fi
		sleep 0.1
		n=$((n + 1))
	done
}

# case_end: lets events drain, stops the module like Ctrl-C, reports.
case_end() {
	sleep 1
	kill -INT "$CASE_PID" 2>/dev/null
	wait "$CASE_PID"
	rc=$?
	sed 's/^/OUT /' "$OUT"
	sed 's/^/ERR /' "$ERR"
	echo "UNIBPF-CASE-END $CASE rc=$rc ms=$(($(uptime_ms) - CASE_T0))"
}

case_bootstrap() {
	if case_start bootstrap tracing "$PROGRAMS/bootstrap.wasm"; then
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

case_execve() {
	if case_start execve tracing "$PROGRAMS/execve.wasm"; then
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
	if case_start opensnoop "tracing opens" "$PROGRAMS/opensnoop.wasm" -p $$; then
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
	if case_start runqlat sampling "$PROGRAMS/runqlat.wasm" -p $t; then
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
	if case_start uprobe probing "$PROGRAMS/uprobe.wasm" "$PROGRAMS/uprobe.target"; then
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
	if case_start xdp "counting packets" "$PROGRAMS/xdp.wasm" lo; then
		"$PROGRAMS/xdp.target" 127.0.0.1 9317 6 300
		fact "datagrams=6"
		fact "frame=342"
		fact "port=9317"
	fi
	case_end
}

case_exitsnoop() {
	if case_start exitsnoop "tracing process exits" "$PROGRAMS/exitsnoop.wasm"; then
		/bin/sh -c 'exit 7' &
		p=$!
		wait $p
		fact "exit_pid=$p"
	fi
	case_end
}

case_kprobe() {
	echo x >/tmp/kprobe-victim
	if case_start kprobe "tracing do_unlinkat" "$PROGRAMS/kprobe.wasm"; then
		rm /tmp/kprobe-victim
		fact "path=/tmp/kprobe-victim"
	fi
	case_end
}

case_tcpconnlat() {
	if case_start tcpconnlat "tracing TCP connects" "$PROGRAMS/tcpconnlat.wasm"; then
		# Connects to itself over loopback; the file stands in for cgroup.procs.
		ports=$("$PROGRAMS/sockops.target" /tmp/tcpconnlat-procs)
		fact "server_port=$(echo "$ports" | sed -n 's/.*server=\([0-9]*\).*/\1/p')"
	fi
	case_end
}

case_lsm() {
	mkdir -p /tmp/unibpf-keep
	if case_start lsm "protecting directories" "$PROGRAMS/lsm.wasm" unibpf-keep; then
		(cd /tmp && rmdir unibpf-keep 2>/dev/null)
		fact "rmdir_rc=$?"
		if [ -d /tmp/unibpf-keep ]; then fact "still_there=1"; else fact "still_there=0"; fi
	fi
	case_end
	rmdir /tmp/unibpf-keep 2>/dev/null
}

run_cases() {
	for c in "$@"; do
		"case_$c"
	done
}
