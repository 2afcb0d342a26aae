use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::Duration;

use libbpf_rs::{MapCore, Object, ObjectBuilder};
use unibpf_backend::{
    AttachTarget, BackendError, Errno, EventBatch, LoadPlan, LoadRequest, LoadedObject, MapHandle,
    MapInfo, MapKind, ProgramDesc, Result, TcAttach,
};
use unibpf_object::ProgramSection;

use crate::attach::{self, Attachment};
use crate::diagnose;
use crate::map::KernelMap;
use crate::poll::Poller;

/// A loaded object and everything hanging off it. Field order is drop order:
/// pollers and attachments go before the object whose maps and programs they use.
pub(crate) struct KernelObject {
    pollers: HashMap<i32, Poller>,
    attachments: Vec<Attachment>,
    object: Object,
    /// Programs the plan left out: attaching one is a no-op with a warning,
    /// so a guest attaching every program still works.
    skipped: Vec<String>,
    tc_attach: TcAttach,
    /// Each program's section, as the pipeline read it.
    sections: HashMap<String, ProgramSection>,
}

fn possible_cpus() -> u32 {
    // SAFETY: plain libbpf query with no arguments.
    let n = unsafe { libbpf_sys::libbpf_num_possible_cpus() };
    u32::try_from(n).unwrap_or(1).max(1)
}

impl KernelObject {
    pub(crate) fn load(request: &LoadRequest<'_>) -> Result<Self> {
        let (elf, plan) = (request.elf, request.plan);
        // libelf reads headers and symbol tables in place through typed
        // pointers; a guest may hand us its object at any byte offset.
        let aligned;
        let elf = if elf.as_ptr().align_offset(8) == 0 {
            elf
        } else {
            aligned = AlignedBytes::copy_of(elf);
            aligned.as_bytes()
        };
        let mut builder = ObjectBuilder::default();
        if let Some(btf) = &plan.btf_custom_path {
            builder.btf_custom_path(btf).map_err(|e| {
                BackendError::new(Errno::EINVAL, format!("custom BTF {}: {e}", btf.display()))
            })?;
        }
        let (opened, log) = diagnose::capture_log(|| builder.open_memory(elf));
        let mut open = opened.map_err(|e| {
            let errno = diagnose::errno_of(&e);
            if let Some(cause) = diagnose::out_of_resources(errno) {
                return BackendError::new(errno, format!("opening the object failed: {cause}"));
            }
            let detail = log
                .iter()
                .rev()
                .find(|l| l.contains("elf") || l.contains("BTF") || l.contains("failed"))
                .map(|l| format!(" ({})", l.trim_start_matches("libbpf: ")))
                .unwrap_or_default();
            BackendError::new(errno, format!("not a valid BPF object: {e}{detail}"))
        })?;
        let mut sections: HashMap<String, ProgramSection> = request
            .object
            .programs
            .iter()
            .map(|p| (p.name.clone(), p.section.clone()))
            .collect();
        // Converted kprobes attach as the fentry programs they now are.
        for conv in &plan.kprobes_as_fentry {
            let section = ProgramSection::parse(&conv.section()).map_err(|e| {
                BackendError::new(Errno::EINVAL, format!("program {}: {e}", conv.program))
            })?;
            sections.insert(conv.program.clone(), section);
        }
        apply_plan(&mut open, plan)?;
        let (loaded, log) = diagnose::capture_log(|| open.load());
        let object = loaded.map_err(|e| {
            diagnose::load_error(&e, &log, |p| sections.get(p).map(|s| s.hook.clone()))
        })?;
        Ok(Self {
            pollers: HashMap::new(),
            attachments: Vec::new(),
            object,
            skipped: plan.skip_programs.clone(),
            tc_attach: plan.tc_attach,
            sections,
        })
    }
}

impl LoadedObject for KernelObject {
    fn programs(&self) -> Vec<ProgramDesc> {
        self.object
            .progs()
            .map(|p| ProgramDesc {
                name: p.name().to_string_lossy().into_owned(),
                section: p.section().to_string_lossy().into_owned(),
            })
            .collect()
    }

    fn attach(&mut self, program: &str, target: AttachTarget<'_>) -> Result<()> {
        if self.skipped.iter().any(|p| p == program) {
            tracing::warn!("program {program} was left out on this host; not attaching it");
            return Ok(());
        }
        let prog = self
            .object
            .progs_mut()
            .find(|p| p.name() == program)
            .ok_or_else(|| {
                BackendError::new(
                    Errno::ENOENT,
                    format!("no program named {program:?} in the object"),
                )
            })?;
        // Only programs the pipeline read can attach: their sections and
        // targets were checked there.
        let section = self.sections.get(program).ok_or_else(|| {
            BackendError::new(
                Errno::ENOENT,
                format!("program {program:?} is not one the object was read with"),
            )
        })?;
        let attachment = attach::attach(&prog, section, target, self.tc_attach)?;
        self.attachments.push(attachment);
        Ok(())
    }

    fn map_by_name(&mut self, name: &str) -> Result<MapHandle> {
        let map = self
            .object
            .maps()
            .find(|m| map_name_matches(&m.name().to_string_lossy(), name))
            .ok_or_else(|| {
                BackendError::new(
                    Errno::ENOENT,
                    format!("no map named {name:?} in the object"),
                )
            })?;
        let fd = map.as_fd();
        let id = fd.as_raw_fd();
        if id < 0 {
            return Err(BackendError::new(
                Errno::ENOENT,
                format!("map {name:?} was not created"),
            ));
        }
        let owned = fd.try_clone_to_owned().map_err(|e| {
            BackendError::new(
                Errno(e.raw_os_error().unwrap_or(12)),
                format!("duplicating map fd: {e}"),
            )
        })?;
        let kind = MapKind::from_raw(map.map_type() as u32);
        let info = MapInfo::new(
            kind,
            map.key_size(),
            map.value_size(),
            map.max_entries(),
            possible_cpus(),
        );
        Ok(MapHandle {
            id,
            info,
            ops: Rc::new(KernelMap::new(owned, &info)),
        })
    }

    fn poll_events(
        &mut self,
        map_id: i32,
        timeout: Option<Duration>,
        wake: std::os::fd::BorrowedFd<'_>,
        out: &mut EventBatch,
    ) -> Result<()> {
        if !self.pollers.contains_key(&map_id) {
            let map = self
                .object
                .maps()
                .find(|m| m.as_fd().as_raw_fd() == map_id)
                .ok_or_else(|| {
                    BackendError::new(
                        Errno::ENOENT,
                        format!("fd {map_id} is not a map of this object"),
                    )
                })?;
            let poller = Poller::new(&map)
                .map_err(|e| e.context(format!("map {}", map.name().to_string_lossy())))?;
            self.pollers.insert(map_id, poller);
        }
        match self.pollers.get_mut(&map_id) {
            Some(p) => p.poll(timeout, wake, out),
            None => Err(BackendError::new(Errno::ENOENT, "poller vanished")),
        }
    }
}

/// The selector's changes, between open and load.
fn apply_plan(open: &mut libbpf_rs::OpenObject, plan: &LoadPlan) -> Result<()> {
    let failed = |what: String, e: libbpf_rs::Error| {
        BackendError::new(diagnose::errno_of(&e), format!("{what}: {e}"))
    };
    for mut map in open.maps_mut() {
        let name = map.name().to_string_lossy().into_owned();
        if plan.ringbuf_to_perf.contains(&name) {
            // A perf event array holds one perf buffer fd per CPU; libbpf
            // sizes it to the CPU count when max_entries is 0.
            map.set_type(libbpf_rs::MapType::PerfEventArray)
                .and_then(|()| map.set_key_size(4))
                .and_then(|()| map.set_value_size(4))
                .and_then(|()| map.set_max_entries(0))
                .map_err(|e| failed(format!("map {name}: making it a perf event array"), e))?;
        }
        if plan.skip_maps.contains(&name) {
            map.set_autocreate(false)
                .map_err(|e| failed(format!("map {name}: leaving it out"), e))?;
        }
    }
    for mut prog in open.progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        if plan.skip_programs.contains(&name) {
            prog.set_autoload(false);
        }
        if let Some(conv) = plan.kprobes_as_fentry.iter().find(|c| c.program == name) {
            // The attach type first: libbpf looks the function up in the
            // kernel's BTF by it.
            prog.set_prog_type(libbpf_rs::ProgramType::Tracing);
            prog.set_attach_type(if conv.exit {
                libbpf_rs::ProgramAttachType::TraceFexit
            } else {
                libbpf_rs::ProgramAttachType::TraceFentry
            });
            prog.set_attach_target(0, Some(conv.function.clone()))
                .map_err(|e| failed(format!("program {name}: as {}", conv.section()), e))?;
        }
    }
    Ok(())
}

/// Global data maps are named `<object prefix>.bss` by libbpf (the prefix
/// cut to fit 15 characters); guests know them by their section name.
fn map_name_matches(actual: &str, wanted: &str) -> bool {
    actual == wanted
        || (wanted.starts_with('.') && actual.ends_with(wanted) && actual.len() > wanted.len())
}

/// Bytes stored in 8-byte words, so their start is 8-aligned.
struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    fn copy_of(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *word = u64::from_ne_bytes(b);
        }
        Self {
            words,
            len: bytes.len(),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        // SAFETY: the Vec owns words.len() * 8 initialized bytes and len <= that;
        // u8 has no alignment or validity requirements.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::AlignedBytes;

    #[test]
    fn aligned_copy_keeps_every_byte_and_starts_aligned() {
        let source: Vec<u8> = (0..=255u8).cycle().take(1001).collect();
        let copy = AlignedBytes::copy_of(&source[3..]);
        assert_eq!(copy.as_bytes(), &source[3..]);
        assert_eq!(copy.as_bytes().as_ptr().align_offset(8), 0);
        assert!(AlignedBytes::copy_of(&[]).as_bytes().is_empty());
    }
}
