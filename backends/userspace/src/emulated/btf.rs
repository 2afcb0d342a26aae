//! The BTF of the kernel objects the backend emulates. CO-RE relocations
//! resolve against it, so a program reads exactly the fields laid out by
//! [`super::layout`]: one description serves both sides, and no kernel
//! BTF is needed on the host (there may be none, or no kernel at all).

use unibpf_object::btf::{write_btf, IntEncoding, Kind, Member, Type, TypeId};
use unibpf_object::Btf;

use super::layout::{self, Field, FieldType, Struct};

/// Builds BTF from the layout tables, one struct after another.
struct Builder {
    types: Vec<Type>,
    /// Ids of the scalar types, made once.
    ints: Vec<((u32, bool), TypeId)>,
    chr: Option<TypeId>,
    /// Ids of the emulated structs, by name, so pointers can name them
    /// before or after they are written.
    structs: Vec<(&'static str, TypeId)>,
}

impl Builder {
    fn push(&mut self, name: &str, kind: Kind) -> TypeId {
        self.types.push(Type {
            name: name.to_string(),
            kind,
        });
        self.types.len() as TypeId
    }

    fn int(&mut self, size: u32, signed: bool) -> TypeId {
        if let Some(&(_, id)) = self.ints.iter().find(|(k, _)| *k == (size, signed)) {
            return id;
        }
        let name = match (size, signed) {
            (1, false) => "unsigned char",
            (1, true) => "signed char",
            (2, false) => "short unsigned int",
            (2, true) => "short int",
            (4, false) => "unsigned int",
            (4, true) => "int",
            (8, false) => "long unsigned int",
            _ => "long int",
        };
        let encoding = if signed {
            IntEncoding::Signed
        } else {
            IntEncoding::Unsigned
        };
        let id = self.push(
            name,
            Kind::Int {
                size,
                encoding,
                bits: size * 8,
            },
        );
        self.ints.push(((size, signed), id));
        id
    }

    fn char(&mut self) -> TypeId {
        if let Some(id) = self.chr {
            return id;
        }
        let id = self.push(
            "char",
            Kind::Int {
                size: 1,
                encoding: IntEncoding::Signed,
                bits: 8,
            },
        );
        self.chr = Some(id);
        id
    }

    fn array(&mut self, elem: TypeId, len: u32) -> TypeId {
        let index = self.int(4, false);
        self.push("", Kind::Array { elem, index, len })
    }

    fn struct_id(&self, name: &str) -> TypeId {
        self.structs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, id)| id)
            .unwrap_or(0)
    }

    fn field_type(&mut self, ty: FieldType) -> TypeId {
        match ty {
            FieldType::Int { size, signed } => self.int(size, signed),
            FieldType::Chars(len) => {
                let c = self.char();
                self.array(c, len)
            }
            FieldType::Bits { size, .. } => self.int(size, false),
            FieldType::Ints { size, signed, len } => {
                let elem = self.int(size, signed);
                self.array(elem, len)
            }
            FieldType::PtrTo(name) => {
                let to = self.struct_id(name);
                self.push("", Kind::Ptr(to))
            }
            FieldType::Struct(name) => self.struct_id(name),
        }
    }

    fn members(&mut self, fields: &[Field]) -> Vec<Member> {
        fields
            .iter()
            .map(|f| {
                let (bit_offset, bitfield_size) = match f.ty {
                    FieldType::Bits { bits, .. } => (f.offset, Some(bits)),
                    _ => (f.offset * 8, None),
                };
                Member {
                    name: f.name.to_string(),
                    ty: self.field_type(f.ty),
                    bit_offset,
                    bitfield_size,
                }
            })
            .collect()
    }
}

/// Raw BTF describing every emulated struct of [`layout::all`].
pub fn raw() -> Vec<u8> {
    let mut b = Builder {
        types: Vec::new(),
        ints: Vec::new(),
        chr: None,
        structs: Vec::new(),
    };
    // Every struct gets its id first, members after, so structs may point
    // at each other (task_struct at itself) in any order.
    for s in layout::all() {
        let id = b.push(
            s.name,
            Kind::Struct {
                size: s.size,
                members: Vec::new(),
            },
        );
        b.structs.push((s.name, id));
    }
    for s in layout::all() {
        fill(&mut b, s);
    }
    // The tables are ours and well formed: a failure is a bug in them,
    // which the unit tests catch.
    write_btf(&b.types).unwrap_or_default()
}

fn fill(b: &mut Builder, s: &Struct) {
    let members = b.members(s.fields);
    let id = b.struct_id(s.name) as usize;
    if let Some(Type {
        kind: Kind::Struct { members: m, .. },
        ..
    }) = b.types.get_mut(id - 1)
    {
        *m = members;
    }
}

/// [`raw`], parsed: built once per process (every load resolves against
/// the same tables).
pub fn parsed() -> &'static Btf {
    static PARSED: std::sync::OnceLock<Btf> = std::sync::OnceLock::new();
    // Our own constant tables: the unit tests prove they parse.
    PARSED.get_or_init(|| Btf::parse(&raw()).expect("the emulated BTF tables are well formed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_struct_reads_back_with_its_size_and_members() {
        let btf = Btf::parse(&raw()).expect("the emulated BTF parses");
        for s in layout::all() {
            let id = btf.find_composite(s.name).expect(s.name);
            assert_eq!(btf.size_of(id), Some(u64::from(s.size)), "{}", s.name);
            let Kind::Struct { members, .. } = &btf.ty(id).kind else {
                panic!("{} is not a struct", s.name)
            };
            assert_eq!(members.len(), s.fields.len(), "{}", s.name);
            for (m, f) in members.iter().zip(s.fields) {
                assert_eq!(m.name, f.name);
                let byte_offset = match f.ty {
                    FieldType::Bits { bits, .. } => {
                        assert_eq!(m.bitfield_size, Some(bits));
                        f.offset / 8
                    }
                    _ => f.offset,
                };
                assert_eq!(m.bit_offset / 8, byte_offset, "{}.{}", s.name, f.name);
                let size = btf.size_of(m.ty).expect("sized member");
                assert!(
                    u64::from(byte_offset) + size <= u64::from(s.size),
                    "{}.{} ends past the struct",
                    s.name,
                    f.name
                );
            }
        }
    }

    #[test]
    fn task_struct_points_at_itself() {
        let btf = parsed();
        let task = btf.find_composite("task_struct").expect("task_struct");
        let Kind::Struct { members, .. } = &btf.ty(task).kind else {
            panic!()
        };
        let parent = members.iter().find(|m| m.name == "real_parent").unwrap();
        assert_eq!(btf.ty(parent.ty).kind, Kind::Ptr(task));
    }
}
