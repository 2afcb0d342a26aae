//! A multi-threaded command: every thread is traced, with its own tid and
//! the process's tgid.

mod common;

use std::collections::BTreeSet;

use common::{compile_c, everything, trace_command, Kind};
use unibpf_trace::SyscallSet;

#[test]
fn four_threads_each_open_a_file() {
    let prog = compile_c("threads");
    let prog = prog.path.to_str().expect("utf-8 temp path");
    let openat = SyscallSet::only([libc::SYS_openat], true, false);
    let (end, seen) = trace_command(&[prog], everything(openat));
    assert_eq!(end.exit_code(), Some(0), "{seen:#?}");

    let leader = seen
        .iter()
        .find(|s| matches!(s.kind, Kind::Exec { .. }))
        .expect("exec")
        .tgid;
    let opens: Vec<_> = seen
        .iter()
        .filter_map(|s| match &s.kind {
            Kind::Enter { path: Some(p), .. } if p.contains("unibpf-trace-thread-") => {
                Some((s.tid, s.tgid, p.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(opens.len(), 4, "{opens:?}");
    let tids: BTreeSet<i32> = opens.iter().map(|o| o.0).collect();
    let paths: BTreeSet<&String> = opens.iter().map(|o| &o.2).collect();
    assert_eq!(tids.len(), 4, "distinct tids: {opens:?}");
    assert_eq!(paths.len(), 4, "distinct paths: {opens:?}");
    assert!(
        opens.iter().all(|o| o.1 == leader && o.0 != leader),
        "{opens:?}"
    );

    // The threads were announced as threads of the leader, and exited.
    for tid in &tids {
        assert!(seen.iter().any(|s| s.tid == leader
            && s.kind
                == Kind::Fork {
                    child: *tid,
                    thread: true
                }));
        assert!(seen
            .iter()
            .any(|s| s.tid == *tid && s.kind == Kind::Gone { status: 0 }));
    }
}
