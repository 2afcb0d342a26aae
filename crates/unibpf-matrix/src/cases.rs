//! What a case printed (matrix/cases.sh), read back from a console log,
//! and the checks each program's output must pass: the same facts the
//! program suite's tests assert.

use std::collections::HashMap;

/// What ran a case: unibpf with the .wasm, or the same control plane built
/// natively against libbpf (the paper's "native" column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Runner {
    #[default]
    Unibpf,
    Native,
}

/// One case's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseOutput {
    pub name: String,
    pub runner: Runner,
    pub facts: HashMap<String, String>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
    /// None when the case never finished (the VM died or timed out).
    pub rc: Option<i32>,
    pub ms: Option<u64>,
}

/// Every case in a console log, in order. Console noise (kernel messages,
/// carriage returns) is ignored.
pub fn parse_log(log: &str) -> Vec<CaseOutput> {
    let mut cases = Vec::new();
    let mut cur: Option<CaseOutput> = None;
    for raw in log.lines() {
        let line = raw.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("UNIBPF-CASE-BEGIN ") {
            if let Some(c) = cur.take() {
                cases.push(c);
            }
            let mut words = rest.split_whitespace();
            let name = words.next().unwrap_or_default().to_string();
            let runner = match words.next() {
                Some("native") => Runner::Native,
                _ => Runner::Unibpf,
            };
            cur = Some(CaseOutput {
                name,
                runner,
                ..Default::default()
            });
            continue;
        }
        let Some(c) = cur.as_mut() else { continue };
        if let Some(rest) = line.strip_prefix("UNIBPF-CASE-END ") {
            for field in rest.split_whitespace().skip(1) {
                if let Some(v) = field.strip_prefix("rc=") {
                    c.rc = v.parse().ok();
                } else if let Some(v) = field.strip_prefix("ms=") {
                    c.ms = v.parse().ok();
                }
            }
            cases.extend(cur.take());
        } else if let Some(f) = line.strip_prefix("FACT ") {
            if let Some((k, v)) = f.split_once('=') {
                c.facts.insert(k.to_string(), v.to_string());
            }
        } else if let Some(o) = line.strip_prefix("OUT ") {
            c.stdout.push(o.to_string());
        } else if let Some(e) = line.strip_prefix("ERR ") {
            c.stderr.push(e.to_string());
        }
    }
    cases.extend(cur);
    cases
}

/// The programs the matrix runs, in table order.
pub const PROGRAMS: &[&str] = &[
    "bootstrap",
    "bootstrap_rs",
    "execve",
    "opensnoop",
    "runqlat",
    "uprobe",
    "xdp",
    "tc",
    "sockfilter",
    "sockops",
    "exitsnoop",
    "kprobe",
    "tcpconnlat",
    "lsm",
];

fn value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ')
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
}

fn find<'a>(lines: &'a [String], prefix: &str, want: &[(&str, &str)]) -> Option<&'a String> {
    lines
        .iter()
        .find(|l| l.starts_with(prefix) && want.iter().all(|(k, v)| value(l, k) == Some(*v)))
}

/// The line of a case's stderr that best says why it failed: the runtime's
/// own error line, natively the loader's, else the last one.
pub fn error_line(c: &CaseOutput) -> Option<&str> {
    c.stderr
        .iter()
        .find(|l| l.starts_with("unibpf: error:") || l.starts_with("native: "))
        .or_else(|| c.stderr.last())
        .map(String::as_str)
}

/// What auto selection adds to its error when the userspace backend cannot
/// stand in for the kernel either (crates/unibpf-pipeline).
const USERSPACE_EITHER: &str = "; the userspace backend cannot run it either: ";

/// A failed cell's reason on a userspace host: the userspace backend's own
/// reason, without the kernel's, which is the same for every program there
/// (no bpf()) and would give each cell a note of its own.
/// `exit 1: unibpf: error: KERNEL; the userspace backend cannot run it
/// either: USERSPACE` becomes `exit 1: unibpf: error: USERSPACE`; other
/// reasons are kept.
pub fn userspace_reason(reason: String) -> String {
    const ERROR: &str = "unibpf: error: ";
    match (reason.find(ERROR), reason.find(USERSPACE_EITHER)) {
        (Some(at), Some(either)) if at < either => format!(
            "{}{}",
            &reason[..at + ERROR.len()],
            &reason[either + USERSPACE_EITHER.len()..]
        ),
        _ => reason,
    }
}

/// Whether a case ran to its end with exit status 0; Err is the one-line
/// reason it did not.
pub fn finished(c: &CaseOutput) -> Result<(), String> {
    let Some(rc) = c.rc else {
        return Err("the case did not finish".into());
    };
    if let Some(secs) = c.facts.get("cell_timeout") {
        return Err(format!("killed after the cell timeout ({secs} s)"));
    }
    if rc != 0 {
        return Err(match error_line(c) {
            Some(why) => format!("exit {rc}: {why}"),
            None => format!("exit {rc}, nothing on stderr"),
        });
    }
    Ok(())
}

/// Checks a case; Err is the one-line reason the cell failed.
pub fn check(c: &CaseOutput) -> Result<(), String> {
    finished(c)?;
    let fact = |k: &str| {
        c.facts
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| format!("the workload did not run (no {k})"))
    };
    let out = &c.stdout;
    match c.name.as_str() {
        "bootstrap" | "bootstrap_rs" => {
            let sh = fact("sh_pid")?;
            let sleeper = fact("sleep_pid")?;
            find(
                out,
                "EXEC",
                &[("pid", sh), ("comm", "sh"), ("file", "/bin/sh")],
            )
            .ok_or("no EXEC of sh")?;
            find(out, "EXIT", &[("pid", sh), ("code", "3")]).ok_or("no EXIT of sh with code 3")?;
            let exit = find(out, "EXIT", &[("pid", sleeper), ("comm", "sleep")])
                .ok_or("no EXIT of sleep")?;
            let ms: u64 = value(exit, "duration_ms")
                .and_then(|v| v.parse().ok())
                .ok_or("no duration")?;
            if ms < 300 {
                return Err(format!("sleep 0.3 lasted {ms} ms"));
            }
            Ok(())
        }
        "execve" => {
            let pid = fact("exec_pid")?;
            let argv0 = fact("argv0")?;
            let line = find(out, "EXECVE", &[("pid", pid)]).ok_or("no EXECVE of the workload")?;
            let want = format!(r#"argc=4 args=["{argv0}","first","two words",""]"#);
            if line.ends_with(&want) {
                Ok(())
            } else {
                Err(format!("wrong arguments: {line}"))
            }
        }
        "opensnoop" => {
            let pid = fact("shell_pid")?;
            let present = fact("present")?;
            let missing = fact("missing")?;
            let hit = find(out, "OPEN", &[("pid", pid), ("path", present)])
                .ok_or("no open of the present file")?;
            if value(hit, "ret")
                .and_then(|r| r.parse::<i32>().ok())
                .is_none_or(|r| r < 0)
            {
                return Err(format!("open of the present file failed: {hit}"));
            }
            find(
                out,
                "OPEN",
                &[("pid", pid), ("path", missing), ("ret", "-2")],
            )
            .ok_or("no failed open (-ENOENT) of the missing file")?;
            Ok(())
        }
        "runqlat" => {
            let sleeps: u64 = fact("sleeps")?.parse().map_err(|_| "bad sleeps fact")?;
            let total: u64 = out
                .iter()
                .find_map(|l| l.strip_prefix("TOTAL samples="))
                .and_then(|v| v.parse().ok())
                .ok_or("no TOTAL line")?;
            let buckets: u64 = out
                .iter()
                .filter(|l| l.starts_with("BUCKET"))
                .filter_map(|l| value(l, "count")?.parse::<u64>().ok())
                .sum();
            // At most one sample per wakeup: one per sleep, plus the FIFO's
            // open and read. A wakeup that lands while the target is still
            // on its CPU (a loaded machine) has no switch-in to measure, so
            // fewer is possible; none at all is not, after this many sleeps.
            if !(1..=sleeps + 3).contains(&total) {
                return Err(format!("{total} samples for {sleeps} sleeps"));
            }
            if buckets != total {
                return Err(format!("buckets sum to {buckets}, total says {total}"));
            }
            Ok(())
        }
        "uprobe" => {
            let pid = fact("target_pid")?;
            let ours: Vec<&String> = out
                .iter()
                .filter(|l| value(l, "pid") == Some(pid))
                .collect();
            let want = [
                format!("ENTER func=uprobe_add pid={pid} args=40,2"),
                format!("EXIT func=uprobe_add pid={pid} ret=42"),
                format!("ENTER func=uprobe_scale pid={pid} args=-5000000000,3"),
                format!("EXIT func=uprobe_scale pid={pid} ret=-15000000000"),
            ];
            if ours
                .iter()
                .map(|s| s.as_str())
                .eq(want.iter().map(|s| s.as_str()))
            {
                Ok(())
            } else {
                Err(format!("uprobe lines: {ours:?}"))
            }
        }
        "xdp" => {
            let n: usize = fact("datagrams")?.parse().map_err(|_| "bad fact")?;
            let frame = fact("frame")?;
            let port = fact("port")?;
            let udp: Vec<&String> = out
                .iter()
                .filter(|l| {
                    l.starts_with("PACKET") && l.ends_with(&format!("ipproto=17 dport={port}"))
                })
                .collect();
            if udp.len() != n || udp.iter().any(|l| value(l, "size") != Some(frame)) {
                return Err(format!(
                    "{} of {n} datagrams seen as {frame}-byte frames",
                    udp.len()
                ));
            }
            let packets: Vec<&String> = out.iter().filter(|l| l.starts_with("PACKET")).collect();
            let bytes: u64 = packets
                .iter()
                .filter_map(|l| value(l, "size")?.parse::<u64>().ok())
                .sum();
            let total = out
                .iter()
                .find(|l| l.starts_with("TOTAL"))
                .ok_or("no TOTAL line")?;
            if value(total, "packets") != Some(&packets.len().to_string())
                || value(total, "bytes") != Some(&bytes.to_string())
            {
                return Err(format!(
                    "per-CPU totals {total} disagree with {} packets, {bytes} bytes",
                    packets.len()
                ));
            }
            Ok(())
        }
        "tc" => {
            let n: u64 = fact("datagrams")?.parse().map_err(|_| "bad fact")?;
            let frame: u64 = fact("frame")?.parse().map_err(|_| "bad fact")?;
            let udp = out
                .iter()
                .find(|l| l.starts_with("PROTO ipproto=17 "))
                .ok_or("no UDP counts")?;
            let count = |k: &str| value(udp, k).and_then(|v| v.parse::<u64>().ok());
            // Every datagram sent was counted at its size; other UDP traffic
            // on the interface (none is sent, but nothing forbids it) adds to
            // the counts, never subtracts.
            match (count("packets"), count("bytes")) {
                (Some(p), Some(b)) if p >= n && b >= n * frame && b >= p * 42 => Ok(()),
                _ => Err(format!(
                    "{udp}, expected at least packets={n} bytes={}",
                    n * frame
                )),
            }
        }
        "sockfilter" => {
            let n: u64 = fact("datagrams")?.parse().map_err(|_| "bad fact")?;
            // At least the datagrams sent (the socket sees both directions,
            // and other UDP on the interface would only add).
            let udp = find(out, "PROTO", &[("ipproto", "17"), ("name", "udp")])
                .ok_or("no PROTO line for UDP")?;
            match value(udp, "packets").and_then(|v| v.parse::<u64>().ok()) {
                Some(p) if p >= n => Ok(()),
                _ => Err(format!("{udp}: fewer than the {n} UDP datagrams sent")),
            }
        }
        "sockops" => {
            let client = fact("client_port")?;
            let server = fact("server_port")?;
            for (side, local, remote) in [("active", client, server), ("passive", server, client)] {
                find(
                    out,
                    "ESTABLISHED",
                    &[("side", side), ("lport", local), ("rport", remote)],
                )
                .ok_or_else(|| format!("no {side} ESTABLISHED {local}->{remote}"))?;
            }
            let counts = out
                .iter()
                .find(|l| l.starts_with("OPTIONS"))
                .ok_or("no OPTIONS line")?;
            let n = |k: &str| value(counts, k).and_then(|v| v.parse::<u64>().ok());
            // SYN, SYN-ACK, the two messages and their ACKs at least; every
            // option received carried the sender's port.
            match (n("written"), n("seen"), n("intact")) {
                (Some(w), Some(s), Some(i)) if w >= 4 && s >= 4 && i == s => Ok(()),
                _ => Err(format!("option counts off: {counts}")),
            }
        }
        "exitsnoop" => {
            let pid = fact("exit_pid")?;
            find(out, "EXIT", &[("pid", pid), ("code", "7"), ("signal", "0")])
                .ok_or("no EXIT with code 7")?;
            Ok(())
        }
        "kprobe" => {
            let path = fact("path")?;
            let enter = find(out, "UNLINK", &[("name", path)]).ok_or("no UNLINK of the file")?;
            let pid = value(enter, "pid").ok_or("no pid")?;
            find(out, "UNLINKED", &[("pid", pid), ("ret", "0")])
                .ok_or("no successful return from do_unlinkat")?;
            Ok(())
        }
        "tcpconnlat" => {
            let port = fact("server_port")?;
            let line = find(out, "CONNECT", &[("daddr", "127.0.0.1"), ("dport", port)])
                .ok_or("no CONNECT to the loopback server")?;
            value(line, "latency_us")
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or("no latency")?;
            Ok(())
        }
        "lsm" => {
            if fact("rmdir_rc")? == "0" || fact("still_there")? != "1" {
                return Err("rmdir of the protected directory succeeded".into());
            }
            if !out.iter().any(|l| l == "REFUSED count=1") {
                return Err(format!(
                    "the LSM hook did not refuse it ({})",
                    out.iter()
                        .find(|l| l.starts_with("REFUSED"))
                        .map_or("no REFUSED line", |l| l.as_str())
                ));
            }
            Ok(())
        }
        other => Err(format!("no checks for {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "[    1.2] random kernel line\r
UNIBPF-VM-BEGIN release=6.12.74+deb13-cloud-amd64 machine=x86_64\r
UNIBPF-CASE-BEGIN bootstrap\r
FACT sh_pid=120\r
FACT sleep_pid=121\r
OUT EXEC pid=120 ppid=1 comm=sh file=/bin/sh\r
OUT EXIT pid=120 ppid=1 code=3 duration_ms=2 comm=sh\r
OUT EXIT pid=121 ppid=1 code=0 duration_ms=305 comm=sleep\r
ERR bootstrap: tracing process starts and ends (min duration 0 ms)\r
UNIBPF-CASE-END bootstrap rc=0 ms=2400\r
UNIBPF-CASE-BEGIN execve\r
ERR unibpf: error: program trace_execve: needs tracepoint (kernel 4.7+), which this host lacks: x\r
UNIBPF-CASE-END execve rc=1 ms=300\r
UNIBPF-CASE-BEGIN opensnoop\r
FACT shell_pid=1\r
";

    #[test]
    fn parses_cases_from_a_console_log() {
        let cases = parse_log(LOG);
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].name, "bootstrap");
        assert_eq!(cases[0].rc, Some(0));
        assert_eq!(cases[0].ms, Some(2400));
        assert_eq!(cases[0].facts["sleep_pid"], "121");
        assert_eq!(cases[0].stdout.len(), 3);
        assert_eq!(cases[2].rc, None);
    }

    #[test]
    fn a_userspace_hosts_reason_is_the_userspace_backends() {
        let both = "exit 1: unibpf: error: loading BPF programs needs root: run unibpf with sudo; \
                    the userspace backend cannot run it either: program unlink_enter: the userspace \
                    backend does not run kprobe programs (kprobe/do_unlinkat)";
        assert_eq!(
            userspace_reason(both.into()),
            "exit 1: unibpf: error: program unlink_enter: the userspace backend does not run \
             kprobe programs (kprobe/do_unlinkat)"
        );
        for kept in [
            "exit 1: unibpf: error: program x: the userspace backend does not run xdp programs",
            "killed after the cell timeout (90 s)",
            "no EXIT with code 7",
        ] {
            assert_eq!(userspace_reason(kept.into()), kept);
        }
    }

    #[test]
    fn checks_pass_and_fail_with_one_line_reasons() {
        let cases = parse_log(LOG);
        assert_eq!(check(&cases[0]), Ok(()));
        assert_eq!(
            check(&cases[1]).unwrap_err(),
            "exit 1: unibpf: error: program trace_execve: needs tracepoint (kernel 4.7+), which this host lacks: x"
        );
        assert_eq!(check(&cases[2]).unwrap_err(), "the case did not finish");
        let mut short = cases[0].clone();
        short.stdout[2] = "EXIT pid=121 ppid=1 code=0 duration_ms=20 comm=sleep".into();
        assert_eq!(check(&short).unwrap_err(), "sleep 0.3 lasted 20 ms");
    }
}
