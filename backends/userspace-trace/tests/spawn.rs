//! Tracing a command we start: syscalls through the seccomp filter, exec,
//! fork and exit events, and the ids of the tasks they are about.

mod common;

use common::{everything, trace_command, Kind};
use unibpf_trace::SyscallSet;

const SCRIPT: &str = "cat /etc/hostname >/dev/null; exit 3";

#[test]
fn shell_running_cat() {
    let openat = SyscallSet::only([libc::SYS_openat], true, true);
    let (end, seen) = trace_command(&["/bin/sh", "-c", SCRIPT], everything(openat));
    assert_eq!(end.status, Some(3 << 8), "{seen:#?}");
    assert_eq!(end.exit_code(), Some(3));
    assert!(!end.stopped);

    // sh is exec'd first, in the spawned process itself.
    let sh = seen
        .iter()
        .find(|s| matches!(&s.kind, Kind::Exec { filename, .. } if filename == "/bin/sh"))
        .expect("exec of /bin/sh");
    assert_eq!(sh.tid, sh.tgid);
    assert_eq!(sh.comm, "sh");
    let sh_pid = sh.tgid;
    assert_eq!(sh.ppid as u32, std::process::id());

    let cat = seen
        .iter()
        .find(|s| matches!(&s.kind, Kind::Exec { filename, .. } if filename.ends_with("/cat")))
        .expect("exec of cat");
    assert_eq!(cat.comm, "cat");
    assert_eq!(cat.tid, cat.tgid);
    assert_eq!(cat.ppid, sh_pid, "cat's parent is sh");
    assert!(matches!(cat.kind, Kind::Exec { old_tid, .. } if old_tid == cat.tid));

    // Credentials are ours; cat started after sh, and not long ago.
    let ids = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    assert_eq!(sh.uid_gid, ids);
    assert_eq!(cat.uid_gid, ids);
    let now = common::boot_time_ns();
    assert!(sh.start_time_ns <= cat.start_time_ns && cat.start_time_ns <= now);
    assert!(
        now - sh.start_time_ns < 60_000_000_000,
        "{} {now}",
        sh.start_time_ns
    );

    // sh forked the process that became cat.
    assert!(seen.iter().any(|s| s.tid == sh_pid
        && s.kind
            == Kind::Fork {
                child: cat.tid,
                thread: false
            }));

    // cat opened /etc/hostname, and the open succeeded.
    let open_at = seen
        .iter()
        .position(|s| {
            s.tid == cat.tid
                && matches!(&s.kind, Kind::Enter { id, path: Some(p) }
                    if *id == libc::SYS_openat && p == "/etc/hostname")
        })
        .expect("openat of /etc/hostname");
    assert_eq!(seen[open_at].regs_nr, Some(libc::SYS_openat as u64));
    let exit = seen[open_at + 1..]
        .iter()
        .find(|s| s.tid == cat.tid && matches!(s.kind, Kind::Exit { .. }))
        .expect("openat exit");
    assert!(
        matches!(exit.kind, Kind::Exit { id, ret } if id == libc::SYS_openat && ret >= 0),
        "{exit:?}"
    );

    // Only openat was asked for: no other syscall shows up.
    assert!(seen.iter().all(|s| match s.kind {
        Kind::Enter { id, .. } | Kind::Exit { id, .. } => id == libc::SYS_openat,
        _ => true,
    }));

    // Both exit, with their statuses, while their /proc is still there.
    let statuses: Vec<(i32, i32, String)> = seen
        .iter()
        .filter_map(|s| match s.kind {
            Kind::Gone { status } => Some((s.tid, status, s.comm.clone())),
            _ => None,
        })
        .collect();
    assert!(
        statuses.contains(&(cat.tid, 0, "cat".into())),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&(sh_pid, 3 << 8, "sh".into())),
        "{statuses:?}"
    );
}

#[test]
fn every_syscall_with_ptrace_syscall() {
    let (end, seen) = trace_command(
        &["/bin/sh", "-c", SCRIPT],
        everything(SyscallSet::all(true, true)),
    );
    assert_eq!(end.exit_code(), Some(3));
    let enters = seen
        .iter()
        .filter(|s| matches!(s.kind, Kind::Enter { .. }))
        .count();
    let exits = seen
        .iter()
        .filter(|s| matches!(s.kind, Kind::Exit { .. }))
        .count();
    assert!(enters > 20, "{enters} syscalls");
    // Every syscall but the final exit_group returns (one per process).
    assert!(
        exits + 2 >= enters && exits <= enters,
        "{enters} enters, {exits} exits"
    );
    assert!(seen.iter().any(|s| matches!(&s.kind,
        Kind::Enter { id, path: Some(p) } if *id == libc::SYS_openat && p == "/etc/hostname")));
    // execve's exit comes after the exec event, with 0.
    assert!(seen.iter().any(|s| s.kind
        == Kind::Exit {
            id: libc::SYS_execve,
            ret: 0
        }));
}

#[test]
fn execve_exit_follows_the_exec_event() {
    let execve = SyscallSet::only([libc::SYS_execve], true, true);
    let (end, seen) = trace_command(&["/bin/true"], everything(execve));
    assert_eq!(end.exit_code(), Some(0));
    let kinds: Vec<&Kind> = seen.iter().map(|s| &s.kind).collect();
    let enter = kinds
        .iter()
        .position(|k| matches!(k, Kind::Enter { id, .. } if *id == libc::SYS_execve));
    let exec = kinds.iter().position(|k| matches!(k, Kind::Exec { .. }));
    let exit = kinds.iter().position(|k| {
        **k == Kind::Exit {
            id: libc::SYS_execve,
            ret: 0,
        }
    });
    assert!(enter < exec && exec < exit && enter.is_some(), "{kinds:#?}");
}

#[test]
fn nothing_but_exit() {
    let interest = unibpf_trace::Interest {
        exit: true,
        ..Default::default()
    };
    let (end, seen) = trace_command(&["/bin/sh", "-c", "exit 9"], interest);
    assert_eq!(end.exit_code(), Some(9));
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].kind, Kind::Gone { status: 9 << 8 });
}
