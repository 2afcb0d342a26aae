//! The userspace backend's hooks on an OS other than Linux: none yet. Its
//! process hooks trace with ptrace and its packet hooks read AF_PACKET
//! sockets, both Linux's, so every hooked program is refused in one line;
//! objects still load and their maps still work.

use std::sync::Arc;

use unibpf_backend::{AttachTarget, BackendError, BackendKind, Errno, Result, Unsupported};
use unibpf_object::{Hook, ProgramSection};

use crate::object::ObjectCore;

/// No hooks: see the module's documentation.
#[derive(Default)]
pub struct Hooks;

/// This OS as people write it.
fn os_name() -> &'static str {
    match std::env::consts::OS {
        "windows" => "Windows",
        "macos" => "macOS",
        "freebsd" => "FreeBSD",
        other => other,
    }
}

/// Why `section`'s programs have no source here.
pub(crate) fn refusal(section: &ProgramSection) -> Unsupported {
    let why = match section.hook {
        Hook::Tracepoint | Hook::Uprobe { .. } => {
            "it traces processes with ptrace, which is Linux's"
        }
        Hook::Xdp { .. } | Hook::Tc { .. } | Hook::SocketFilter => {
            "it reads packets from AF_PACKET sockets, which are Linux's"
        }
        _ => {
            return Unsupported::Hook {
                backend: BackendKind::Userspace,
                hook: format!(
                    "{} programs ({}): they have no source outside the kernel",
                    section.kind_word(),
                    section.name
                ),
            }
        }
    };
    Unsupported::NotConvertible {
        missing: format!(
            "the userspace backend has no hook source for {} programs on {}",
            section.kind_word(),
            os_name()
        ),
        why: why.into(),
    }
}

impl Hooks {
    pub fn supports(&self, section: &ProgramSection) -> std::result::Result<String, Unsupported> {
        Err(refusal(section))
    }

    pub fn attach(
        &self,
        _owner: usize,
        core: &Arc<ObjectCore>,
        index: usize,
        _target: AttachTarget<'_>,
    ) -> Result<()> {
        let p = &core.programs[index];
        Err(BackendError::new(
            Errno::EOPNOTSUPP,
            format!("{}: {}", p.name, refusal(&p.section)),
        ))
    }

    /// Nothing is traced: nothing to let run.
    pub fn release(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    /// Nothing was attached.
    pub fn detach_all(&self, _owner: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each hooked kind is refused with the OS and the Linux mechanism it
    /// would need, in one line.
    #[test]
    fn hooked_programs_are_refused_with_the_reason() {
        let tp = ProgramSection::parse("tracepoint/syscalls/sys_enter_openat").expect("tracepoint");
        let line = refusal(&tp).to_string();
        assert_eq!(
            line,
            format!(
                "the userspace backend has no hook source for tracepoint programs on {}; it \
                 traces processes with ptrace, which is Linux's",
                os_name()
            )
        );
        let xdp = ProgramSection::parse("xdp").expect("xdp");
        assert!(
            refusal(&xdp).to_string().contains("AF_PACKET"),
            "{}",
            refusal(&xdp)
        );
        let kprobe = ProgramSection::parse("kprobe/do_unlinkat").expect("kprobe");
        assert!(matches!(refusal(&kprobe), Unsupported::Hook { .. }));
    }
}
