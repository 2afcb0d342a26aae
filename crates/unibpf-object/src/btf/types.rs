//! The owned model of BTF types.

/// A BTF type id; 0 is `void`.
pub type TypeId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntEncoding {
    Unsigned,
    Signed,
    Char,
    Bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub ty: TypeId,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Width in bits when the member is a bitfield.
    pub bitfield_size: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnumValue {
    pub name: String,
    pub value: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub ty: TypeId,
}

/// One variable of a data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecVar {
    /// The `Var` type.
    pub var: TypeId,
    pub offset: u32,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Void,
    Int {
        size: u32,
        encoding: IntEncoding,
        bits: u32,
    },
    Ptr(TypeId),
    Array {
        elem: TypeId,
        /// The index type (an int); only kept so the array can be written
        /// back as it was.
        index: TypeId,
        len: u32,
    },
    Struct {
        size: u32,
        members: Vec<Member>,
    },
    Union {
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        size: u32,
        signed: bool,
        values: Vec<EnumValue>,
        /// `BTF_KIND_ENUM64` (64-bit values) rather than `BTF_KIND_ENUM`.
        wide: bool,
    },
    Fwd {
        union: bool,
    },
    Typedef(TypeId),
    Volatile(TypeId),
    Const(TypeId),
    Restrict(TypeId),
    Func {
        proto: TypeId,
        linkage: u32,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<Param>,
    },
    Var {
        ty: TypeId,
        linkage: u32,
    },
    Datasec {
        size: u32,
        vars: Vec<SecVar>,
    },
    Float {
        size: u32,
    },
    DeclTag {
        ty: TypeId,
        component: i32,
    },
    TypeTag(TypeId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    pub name: String,
    pub kind: Kind,
}

impl Kind {
    /// The ids this kind refers to, in record order.
    pub fn refs(&self) -> Box<dyn Iterator<Item = TypeId> + '_> {
        match self {
            Kind::Ptr(x)
            | Kind::Typedef(x)
            | Kind::Volatile(x)
            | Kind::Const(x)
            | Kind::Restrict(x)
            | Kind::TypeTag(x)
            | Kind::Var { ty: x, .. }
            | Kind::DeclTag { ty: x, .. }
            | Kind::Func { proto: x, .. } => Box::new(std::iter::once(*x)),
            Kind::Array { elem, index, .. } => Box::new([*elem, *index].into_iter()),
            Kind::Struct { members, .. } | Kind::Union { members, .. } => {
                Box::new(members.iter().map(|m| m.ty))
            }
            Kind::FuncProto { ret, params } => {
                Box::new(std::iter::once(*ret).chain(params.iter().map(|p| p.ty)))
            }
            Kind::Datasec { vars, .. } => Box::new(vars.iter().map(|v| v.var)),
            Kind::Void
            | Kind::Int { .. }
            | Kind::Enum { .. }
            | Kind::Fwd { .. }
            | Kind::Float { .. } => Box::new(std::iter::empty()),
        }
    }
}

impl Kind {
    /// The same kind with every id it refers to passed through `f`.
    pub fn map_refs<E>(&self, f: &impl Fn(TypeId) -> Result<TypeId, E>) -> Result<Kind, E> {
        Ok(match self {
            Kind::Ptr(x) => Kind::Ptr(f(*x)?),
            Kind::Typedef(x) => Kind::Typedef(f(*x)?),
            Kind::Volatile(x) => Kind::Volatile(f(*x)?),
            Kind::Const(x) => Kind::Const(f(*x)?),
            Kind::Restrict(x) => Kind::Restrict(f(*x)?),
            Kind::TypeTag(x) => Kind::TypeTag(f(*x)?),
            Kind::Array { elem, index, len } => Kind::Array {
                elem: f(*elem)?,
                index: f(*index)?,
                len: *len,
            },
            Kind::Struct { size, members } => Kind::Struct {
                size: *size,
                members: map_members(members, f)?,
            },
            Kind::Union { size, members } => Kind::Union {
                size: *size,
                members: map_members(members, f)?,
            },
            Kind::Func { proto, linkage } => Kind::Func {
                proto: f(*proto)?,
                linkage: *linkage,
            },
            Kind::FuncProto { ret, params } => Kind::FuncProto {
                ret: f(*ret)?,
                params: params
                    .iter()
                    .map(|p| {
                        Ok(Param {
                            name: p.name.clone(),
                            ty: f(p.ty)?,
                        })
                    })
                    .collect::<Result<_, E>>()?,
            },
            Kind::Var { ty, linkage } => Kind::Var {
                ty: f(*ty)?,
                linkage: *linkage,
            },
            Kind::Datasec { size, vars } => Kind::Datasec {
                size: *size,
                vars: vars
                    .iter()
                    .map(|v| {
                        Ok(SecVar {
                            var: f(v.var)?,
                            ..*v
                        })
                    })
                    .collect::<Result<_, E>>()?,
            },
            Kind::DeclTag { ty, component } => Kind::DeclTag {
                ty: f(*ty)?,
                component: *component,
            },
            Kind::Void
            | Kind::Int { .. }
            | Kind::Enum { .. }
            | Kind::Fwd { .. }
            | Kind::Float { .. } => self.clone(),
        })
    }
}

fn map_members<E>(
    members: &[Member],
    f: &impl Fn(TypeId) -> Result<TypeId, E>,
) -> Result<Vec<Member>, E> {
    members
        .iter()
        .map(|m| {
            Ok(Member {
                ty: f(m.ty)?,
                ..m.clone()
            })
        })
        .collect()
}
