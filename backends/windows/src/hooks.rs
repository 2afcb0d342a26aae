//! The hooks eBPF for Windows has, by the section names its extensions
//! register (netebpfext: `bind`, `cgroup/connect4`, ..., `sockops`, `xdp`),
//! with the attach type each maps to (`enum bpf_attach_type` in efW's
//! include/ebpf_structs.h; not Linux's numbers) and what a named attach
//! target means for it.

/// How a named target is given for a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A network compartment id (efW's stand-in for a cgroup):
    /// `bpf_prog_attach(prog_fd, compartment_id, attach_type, 0)`.
    Compartment,
    /// Only automatic attach (`bpf_program__attach`).
    AutoOnly,
}

/// One hook of eBPF for Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EfwHook {
    /// The section name efW registers for it.
    pub section: &'static str,
    /// `enum bpf_attach_type` in efW.
    pub attach_type: i32,
    pub target: TargetKind,
    /// In words, for `--explain`.
    pub what: &'static str,
}

/// efW's hooks; `attach_type` values from include/ebpf_structs.h.
pub const HOOKS: &[EfwHook] = &[
    EfwHook {
        section: "xdp",
        attach_type: 1,
        target: TargetKind::AutoOnly,
        what: "XDP",
    },
    EfwHook {
        section: "bind",
        attach_type: 2,
        target: TargetKind::AutoOnly,
        what: "bind",
    },
    EfwHook {
        section: "cgroup/connect4",
        attach_type: 3,
        target: TargetKind::Compartment,
        what: "sock_addr connect4",
    },
    EfwHook {
        section: "cgroup/connect6",
        attach_type: 4,
        target: TargetKind::Compartment,
        what: "sock_addr connect6",
    },
    EfwHook {
        section: "cgroup/recv_accept4",
        attach_type: 5,
        target: TargetKind::Compartment,
        what: "sock_addr recv_accept4",
    },
    EfwHook {
        section: "cgroup/recv_accept6",
        attach_type: 6,
        target: TargetKind::Compartment,
        what: "sock_addr recv_accept6",
    },
    EfwHook {
        section: "sockops",
        attach_type: 7,
        target: TargetKind::Compartment,
        what: "sock_ops",
    },
];

/// The hook of a program in section `section`: efW takes the longest
/// registered name that starts the section; here a name matches whole or
/// followed by `/` (`xdp/anything`), the forms libbpf-style objects use.
pub fn hook_of(section: &str) -> Option<&'static EfwHook> {
    HOOKS
        .iter()
        .filter(|h| {
            section == h.section
                || section
                    .strip_prefix(h.section)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|h| h.section.len())
}

/// What a named attach target becomes for `hook`: the compartment id, or
/// a one-line reason it cannot be used.
pub fn compartment_of(hook: &EfwHook, target: &str) -> Result<i32, String> {
    match hook.target {
        TargetKind::Compartment => target.trim().parse::<u32>().ok().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| {
            format!(
                "eBPF for Windows attaches {} programs to a network compartment: the target must be a compartment id (a number, 1 for the default compartment), not {target:?}",
                hook.what
            )
        }),
        TargetKind::AutoOnly => Err(format!(
            "eBPF for Windows attaches {} programs by themselves: give no target (got {target:?})",
            hook.what
        )),
    }
}

/// Whether eBPF for Windows runs `program` (by its section), and how, for
/// `--explain`.
pub fn supports(program: &unibpf_object::Program) -> Result<String, unibpf_backend::Unsupported> {
    match hook_of(&program.section.name) {
        Some(h) => Ok(format!("{} (section {})", h.what, h.section)),
        None => Err(unibpf_backend::Unsupported::Hook {
            backend: unibpf_backend::BackendKind::Windows,
            hook: format!(
                "section {:?} (eBPF for Windows hooks: {})",
                program.section.name,
                HOOKS
                    .iter()
                    .map(|h| h.section)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_map_to_efw_attach_types() {
        assert_eq!(hook_of("sockops").map(|h| h.attach_type), Some(7));
        assert_eq!(hook_of("cgroup/connect6").map(|h| h.attach_type), Some(4));
        assert_eq!(hook_of("xdp/extra").map(|h| h.attach_type), Some(1));
        assert_eq!(hook_of("bind").map(|h| h.attach_type), Some(2));
        assert_eq!(hook_of("kprobe/do_exit"), None);
        assert_eq!(hook_of("sockopsx"), None);
        assert_eq!(hook_of("cgroup/sock_create"), None);
    }

    #[test]
    fn a_named_target_is_a_compartment_id() {
        let sockops = hook_of("sockops").unwrap();
        assert_eq!(compartment_of(sockops, "1"), Ok(1));
        let e = compartment_of(sockops, "/sys/fs/cgroup").unwrap_err();
        assert!(e.contains("compartment id"), "{e}");
        assert!(compartment_of(sockops, "-1").is_err());
        let bind = hook_of("bind").unwrap();
        assert!(compartment_of(bind, "1")
            .unwrap_err()
            .contains("give no target"));
    }

    #[test]
    fn only_efw_hooks_are_supported() {
        let object = |section: &str| unibpf_object::Program {
            name: "p".into(),
            section: unibpf_object::ProgramSection::parse(section).expect("section"),
            sym_info_offset: 0,
        };
        assert_eq!(
            supports(&object("sockops")),
            Ok("sock_ops (section sockops)".to_string())
        );
        let e = supports(&object("kprobe/do_exit")).unwrap_err().to_string();
        assert_eq!(
            e,
            "the windows backend does not run section \"kprobe/do_exit\" (eBPF for Windows hooks: xdp, bind, cgroup/connect4, cgroup/connect6, cgroup/recv_accept4, cgroup/recv_accept6, sockops)"
        );
    }
}
