//! What the pass does with each relocation into another architecture's
//! register struct, and the local types that make libbpf resolve it to
//! the host's register.

use std::collections::HashMap;

use super::arch::{register, role_of, Register, RegsArch, Role};
use super::read::{accessed, usage, Loaded, RegsRelo};
use super::LeftAlone;
use crate::btf::{Appender, Btf, Kind, Member, Type, TypeId};
use crate::btf_ext::CoreReloKind;
use crate::ObjectError;

/// The relocation kinds retargeted: those whose value for a whole 8-byte
/// register does not depend on where it is, but its offset.
const RETARGETED: [CoreReloKind; 4] = [
    CoreReloKind::FieldByteOffset,
    CoreReloKind::FieldByteSize,
    CoreReloKind::FieldExists,
    CoreReloKind::FieldSigned,
];

/// A relocation to point at the host's register.
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    pub section: String,
    /// Where its record starts in `.BTF.ext`.
    pub record: usize,
    pub insn_off: u32,
    pub kind: CoreReloKind,
    /// The host's register for the role.
    pub register: Register,
    /// The local type read (an 8-byte integer).
    pub leaf: TypeId,
    /// The offset the instruction holds (the register's in the local
    /// struct), and the one it gets (the register's in the host's).
    pub old_offset: u64,
    pub new_offset: u64,
}

/// The rewrites for the relocations of `relos` that are not of `host`'s
/// architecture, and those left to libbpf as they are.
pub(crate) fn plan(
    obj: &Loaded<'_>,
    relos: &[RegsRelo<'_>],
    host: RegsArch,
) -> Result<(Vec<Rewrite>, Vec<LeftAlone>), ObjectError> {
    let mut rewrites = Vec::new();
    let mut left = Vec::new();
    for r in relos.iter().filter(|r| r.arch != host) {
        let at = || place(obj, r);
        let leave = |field: String, why: &'static str| LeftAlone {
            section: r.section.to_string(),
            insn_off: r.relo.insn_off,
            kind: r.relo.kind,
            arch: r.arch,
            field,
            why,
        };
        let acc = accessed(&obj.btf, r.relo)
            .map_err(|e| ObjectError::PtRegs(format!("{}: {e}", at())))?;
        let Some(acc) = acc else {
            left.push(leave(r.relo.access_str.clone(), "reads no single register"));
            continue;
        };
        let field = match acc.index {
            Some(i) => format!("{}[{i}]", acc.member),
            None => acc.member.clone(),
        };
        if !RETARGETED.contains(&r.relo.kind) {
            left.push(leave(field, "a bitfield relocation kind (lshift, rshift)"));
            continue;
        }
        let Some(role) = role_of(r.arch, &acc.member, acc.index, usage(r.section)) else {
            left.push(leave(field, "no register role"));
            continue;
        };
        let Some(reg) = register(host, role) else {
            if r.relo.kind == CoreReloKind::FieldExists {
                left.push(leave(field, "a role the host has no register for"));
                continue;
            }
            return Err(no_register(&at(), r.arch, &field, role, host));
        };
        check_leaf(&obj.btf, acc.leaf)
            .map_err(|e| ObjectError::PtRegs(format!("{}: {} {field} {e}", at(), r.arch)))?;
        let (new_offset, _) = host.place(reg).ok_or_else(|| {
            ObjectError::PtRegs(format!("{}: no {reg} in {host}'s registers", at()))
        })?;
        rewrites.push(Rewrite {
            section: r.section.to_string(),
            record: r.record,
            insn_off: r.relo.insn_off,
            kind: r.relo.kind,
            register: reg,
            leaf: acc.leaf,
            old_offset: acc.offset,
            new_offset: u64::from(new_offset),
        });
    }
    Ok((rewrites, left))
}

/// "program NAME (SECTION)", or the section and instruction when no
/// function symbol covers it.
fn place(obj: &Loaded<'_>, r: &RegsRelo<'_>) -> String {
    match obj.program(r.section, r.relo.insn_off) {
        Some(name) => format!("program {name} ({})", r.section),
        None => format!("{}, instruction {}", r.section, r.relo.insn_off / 8),
    }
}

fn no_register(at: &str, from: RegsArch, field: &str, role: Role, host: RegsArch) -> ObjectError {
    let why = match role {
        Role::Parm(_) => "passes that argument on the stack",
        Role::Ret => "keeps the return address on the stack",
        _ => "has no register for it",
    };
    ObjectError::PtRegs(format!(
        "{at}: reads {from} {field} ({role}), but {host} {why}; \
         build the program for {host} or do without {role} there"
    ))
}

/// Registers are 8-byte integers on every architecture here; the local
/// struct must say so for the flavor to keep sizes and signedness.
fn check_leaf(btf: &Btf, leaf: TypeId) -> Result<(), String> {
    match btf.get(leaf).map(|t| &t.kind) {
        Some(Kind::Int {
            size: 8, bits: 64, ..
        }) => Ok(()),
        _ => Err("is not declared as a 64-bit integer; declare it as unsigned long".into()),
    }
}

/// The grown `.BTF` and, per rewritten record, its new root type and
/// access string offset.
pub(crate) struct Synthesized {
    pub btf: Vec<u8>,
    pub records: Vec<(usize, TypeId, u32)>,
}

/// Adds to `raw_btf` a flavor of `struct pt_regs` laid out as the host's
/// kernel has it (`pt_regs___unibpf_<arch>`, one per local register type)
/// and each rewrite's access string into it.
pub(crate) fn synthesize(
    raw_btf: &[u8],
    host: RegsArch,
    rewrites: &[Rewrite],
) -> Result<Synthesized, ObjectError> {
    let mut app = Appender::new(raw_btf)?;
    let mut roots: HashMap<TypeId, TypeId> = HashMap::new();
    let mut records = Vec::with_capacity(rewrites.len());
    for rw in rewrites {
        let root = match roots.get(&rw.leaf) {
            Some(&root) => root,
            None => {
                let root = flavor(&mut app, host, rw.leaf, roots.len());
                roots.insert(rw.leaf, root);
                root
            }
        };
        let (_, member) = host.place(rw.register).ok_or_else(|| {
            ObjectError::PtRegs(format!("no {} in {host}'s registers", rw.register))
        })?;
        let access = match rw.register.index {
            Some(i) => format!("0:{member}:{i}"),
            None => format!("0:{member}"),
        };
        records.push((rw.record, root, app.string(&access)?));
    }
    Ok(Synthesized {
        btf: app.finish()?,
        records,
    })
}

/// `struct pt_regs___unibpf_<host>`: the host kernel's register members
/// at its offsets, each of type `leaf`. libbpf matches it to the kernel's
/// `struct pt_regs` by its name without the flavor, and its members by
/// name, through the anonymous members the kernel's may have.
fn flavor(app: &mut Appender<'_>, host: RegsArch, leaf: TypeId, nth: usize) -> TypeId {
    let mut members = Vec::new();
    let mut offset = 0u32;
    for &(name, len) in host.members() {
        let ty = match len {
            None => leaf,
            Some(len) => app.push(Type {
                name: String::new(),
                kind: Kind::Array {
                    elem: leaf,
                    index: leaf,
                    len,
                },
            }),
        };
        members.push(Member {
            name: name.to_string(),
            ty,
            bit_offset: offset * 8,
            bitfield_size: None,
        });
        offset += 8 * len.unwrap_or(1);
    }
    let name = match nth {
        0 => format!("pt_regs___unibpf_{host}"),
        n => format!("pt_regs___unibpf_{host}_{}", n + 1),
    };
    app.push(Type {
        name,
        kind: Kind::Struct {
            size: offset,
            members,
        },
    })
}
