//! Which execution types eBPF for Windows allows on this host. Only its
//! driver knows (how ebpfcore.sys was built, and HVCI, which forbids JIT),
//! so the probe asks it the one way it answers: loading a trivial program
//! with each type set, then closing it at once.

use unibpf_host::ExecutionSupport;

use crate::errno::from_crt;

/// `ebpf_execution_type_t` as eBPF for Windows 0.x–1.x number it
/// (include/ebpf_execution_type.h).
pub const EXECUTION_JIT: i32 = 1;
pub const EXECUTION_INTERPRET: i32 = 2;

/// The section to load the trivial program as, from the hooks the host's
/// extensions registered: `bind` (netebpfext's, present wherever eBPF for
/// Windows' network extension is) when there, else the first one.
pub fn probe_section<'a>(registered: impl IntoIterator<Item = &'a str>) -> &'a str {
    let mut first = None;
    for name in registered {
        if name == "bind" {
            return name;
        }
        first.get_or_insert(name);
    }
    first.unwrap_or("bind")
}

/// What a failed probe load of execution type `ty` means, from the
/// Windows CRT errno it returned (efW maps its `ebpf_result_t` to these).
pub fn classify(ty: i32, crt_errno: i32) -> ExecutionSupport {
    let errno = from_crt(crt_errno);
    match crt_errno {
        1 => ExecutionSupport::Unknown(format!(
            "loading needs an administrator ({errno}); run unibpf probe elevated"
        )),
        // EBPF_OPERATION_NOT_SUPPORTED: compiled out of ebpfapi or the driver.
        129 | 130 => {
            ExecutionSupport::Refused(format!("not built into this eBPF for Windows ({errno})"))
        }
        // EOTHER: efW's errno for results it has no errno for, among them
        // EBPF_BLOCKED_BY_POLICY and a failed call to its service.
        131 if ty == EXECUTION_JIT => ExecutionSupport::Refused(
            "blocked (EOTHER): HVCI forbids JIT, or eBPFSvc, which verifies and compiles \
             for JIT, is not running"
                .into(),
        ),
        131 => ExecutionSupport::Refused(
            "blocked (EOTHER): by policy, or eBPFSvc, which verifies programs, is not running"
                .into(),
        ),
        // EBPF_VERIFICATION_FAILED.
        13 => ExecutionSupport::Unknown(format!(
            "the trivial test program failed verification ({errno})"
        )),
        _ => ExecutionSupport::Unknown(format!("the trivial test program did not load ({errno})")),
    }
}

/// A BPF ELF object (64-bit, little-endian, relocatable) holding one
/// program, `probe` in `section`, that returns 0: `r0 = 0; exit`.
pub fn trivial_object(section: &str) -> Vec<u8> {
    const EHDR: usize = 64;
    const SHDR: u64 = 64;
    const MOV_R0_0: [u8; 8] = [0xb7, 0, 0, 0, 0, 0, 0, 0];
    const EXIT: [u8; 8] = [0x95, 0, 0, 0, 0, 0, 0, 0];
    let code: Vec<u8> = [MOV_R0_0, EXIT].concat();
    let license = b"MIT\0".to_vec();
    let strtab = b"\0probe\0".to_vec();
    // Elf64_Sym: the null symbol, then `probe`: GLOBAL FUNC in section 1.
    let mut symtab = vec![0u8; 24];
    symtab.extend_from_slice(&1u32.to_le_bytes()); // st_name
    symtab.push(0x12); // st_info: STB_GLOBAL << 4 | STT_FUNC
    symtab.push(0); // st_other
    symtab.extend_from_slice(&1u16.to_le_bytes()); // st_shndx
    symtab.extend_from_slice(&0u64.to_le_bytes()); // st_value
    symtab.extend_from_slice(&(code.len() as u64).to_le_bytes()); // st_size
    let mut shstrtab = vec![0u8];
    let mut name = |n: &str| {
        let at = shstrtab.len() as u32;
        shstrtab.extend_from_slice(n.as_bytes());
        shstrtab.push(0);
        at
    };
    // (name, sh_type, sh_flags, link, info, align, entsize)
    let heads = [
        (name(section), 1u32, 0x6u64, 0u32, 0u32, 8u64, 0u64), // PROGBITS, ALLOC|EXECINSTR
        (name("license"), 1, 0x3, 0, 0, 1, 0),                 // PROGBITS, ALLOC|WRITE
        (name(".symtab"), 2, 0, 4, 1, 8, 24),                  // SYMTAB: .strtab, 1 local
        (name(".strtab"), 3, 0, 0, 0, 1, 0),
        (name(".shstrtab"), 3, 0, 0, 0, 1, 0),
    ];
    let bodies = [code, license, symtab, strtab, shstrtab];

    let mut out = vec![0u8; EHDR];
    let mut placed = Vec::new();
    for body in &bodies {
        while out.len() % 8 != 0 {
            out.push(0);
        }
        placed.push((out.len() as u64, body.len() as u64));
        out.extend_from_slice(body);
    }
    while out.len() % 8 != 0 {
        out.push(0);
    }
    let shoff = out.len() as u64;
    out.extend_from_slice(&[0u8; SHDR as usize]); // the null section
    for ((name, ty, flags, link, info, align, entsize), (offset, size)) in heads.iter().zip(placed)
    {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // sh_addr
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&link.to_le_bytes());
        out.extend_from_slice(&info.to_le_bytes());
        out.extend_from_slice(&align.to_le_bytes());
        out.extend_from_slice(&entsize.to_le_bytes());
    }
    let shnum = heads.len() as u16 + 1;

    let mut ehdr = Vec::with_capacity(EHDR);
    ehdr.extend_from_slice(b"\x7fELF");
    ehdr.extend_from_slice(&[2, 1, 1, 0]); // 64-bit, little-endian, version 1, SysV
    ehdr.extend_from_slice(&[0; 8]);
    ehdr.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
    ehdr.extend_from_slice(&247u16.to_le_bytes()); // EM_BPF
    ehdr.extend_from_slice(&1u32.to_le_bytes()); // e_version
    ehdr.extend_from_slice(&0u64.to_le_bytes()); // e_entry
    ehdr.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
    ehdr.extend_from_slice(&shoff.to_le_bytes());
    ehdr.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    ehdr.extend_from_slice(&(EHDR as u16).to_le_bytes());
    ehdr.extend_from_slice(&0u16.to_le_bytes()); // e_phentsize
    ehdr.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
    ehdr.extend_from_slice(&(SHDR as u16).to_le_bytes());
    ehdr.extend_from_slice(&shnum.to_le_bytes());
    ehdr.extend_from_slice(&(shnum - 1).to_le_bytes()); // .shstrtab is last
    out[..EHDR].copy_from_slice(&ehdr);
    out
}

#[cfg(windows)]
pub use load::probe_execution_types;

#[cfg(windows)]
mod load {
    use std::ffi::c_void;

    use unibpf_host::{EfwExecutionTypes, ExecutionSupport};

    use super::{classify, trivial_object, EXECUTION_INTERPRET, EXECUTION_JIT};
    use crate::ffi::{self, Api};

    /// Loads a trivial program in `section` as JIT and as interpreted code;
    /// each is closed (unloaded) at once. Native is not probed.
    pub fn probe_execution_types(section: &str) -> EfwExecutionTypes {
        let mut found = EfwExecutionTypes {
            probe_section: Some(section.to_string()),
            ..EfwExecutionTypes::default()
        };
        let api = match Api::load() {
            Ok(api) => api,
            Err(e) => {
                found.jit = ExecutionSupport::Unknown(e.to_string());
                found.interpreter = found.jit.clone();
                return found;
            }
        };
        let object = trivial_object(section);
        found.jit = try_load(&api, &object, EXECUTION_JIT);
        found.interpreter = try_load(&api, &object, EXECUTION_INTERPRET);
        found
    }

    /// Closes the object on every path.
    struct Opened<'a>(&'a Api, *mut ffi::Object);

    impl Drop for Opened<'_> {
        fn drop(&mut self) {
            // SAFETY: the object came from bpf_object__open_mem and is
            // closed once, here.
            unsafe { (self.0.bpf_object__close)(self.1) };
        }
    }

    fn try_load(api: &Api, object: &[u8], ty: i32) -> ExecutionSupport {
        // SAFETY: the bytes outlive the call (efW copies them); no options.
        let obj = unsafe {
            (api.bpf_object__open_mem)(
                object.as_ptr() as *const c_void,
                object.len(),
                std::ptr::null(),
            )
        };
        if obj.is_null() {
            return ExecutionSupport::Unknown(format!(
                "ebpfapi.dll did not open the trivial test object ({})",
                crate::object::last_error(api)
            ));
        }
        let opened = Opened(api, obj);
        // SAFETY: the object is open and not loaded.
        let r = unsafe { (api.ebpf_object_set_execution_type)(opened.1, ty) };
        if r != ffi::EBPF_SUCCESS {
            return ExecutionSupport::Refused(format!(
                "this ebpfapi.dll does not take it (ebpf_result_t {r})"
            ));
        }
        // SAFETY: the object is open and not loaded; closing it unloads.
        let r = unsafe { (api.bpf_object__load)(opened.1) };
        if r == 0 {
            ExecutionSupport::Allowed
        } else {
            classify(ty, r.checked_neg().unwrap_or(5))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trivial_object_is_one_global_function_in_its_section() {
        let bytes = trivial_object("bind");
        let elf = goblin::elf::Elf::parse(&bytes).expect("an ELF");
        assert_eq!(elf.header.e_machine, 247);
        assert_eq!(elf.header.e_type, goblin::elf::header::ET_REL);
        let names: Vec<&str> = elf
            .section_headers
            .iter()
            .map(|h| elf.shdr_strtab.get_at(h.sh_name).unwrap_or("?"))
            .collect();
        assert_eq!(
            names,
            ["", "bind", "license", ".symtab", ".strtab", ".shstrtab"]
        );
        let prog = &elf.section_headers[1];
        assert!(prog.is_executable() && prog.is_alloc());
        let code = &bytes[prog.sh_offset as usize..][..prog.sh_size as usize];
        assert_eq!(code, [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
        let syms: Vec<_> = elf.syms.iter().collect();
        assert_eq!(syms.len(), 2);
        assert_eq!(elf.strtab.get_at(syms[1].st_name), Some("probe"));
        assert_eq!(syms[1].st_shndx, 1);
        assert_eq!(syms[1].st_size, 16);
        assert!(syms[1].is_function());
        assert_eq!(syms[1].st_bind(), goblin::elf::sym::STB_GLOBAL);
    }

    #[test]
    fn bind_is_preferred_then_the_first_registered_hook() {
        assert_eq!(probe_section(["sockops", "bind"]), "bind");
        assert_eq!(probe_section(["sockops", "xdp_test"]), "sockops");
        assert_eq!(probe_section([]), "bind");
    }

    #[test]
    fn load_failures_say_refused_or_unknown_and_why() {
        let text = |s: ExecutionSupport| s.to_string();
        assert!(text(classify(EXECUTION_JIT, 131)).starts_with("refused: blocked (EOTHER): HVCI"));
        assert!(text(classify(EXECUTION_INTERPRET, 129)).starts_with("refused: not built into"));
        assert!(
            text(classify(EXECUTION_JIT, 1)).starts_with("unknown: loading needs an administrator")
        );
        assert!(text(classify(EXECUTION_JIT, 13)).contains("failed verification"));
        assert!(text(classify(EXECUTION_JIT, 22))
            .starts_with("unknown: the trivial test program did not load"));
    }
}
