//! Renders a layout plan as C for wasm32 guests.
//!
//! Every struct is `packed` with explicit padding, so the compiler's own
//! alignment rules never move a member: the layout is the BPF side's, byte for
//! byte, and `_Static_assert`s prove it at compile time.

use std::fmt::Write;

use crate::layout::{Bitfield, Composite, FieldType, Item, Plan};

pub(crate) fn int_name(bytes: u32, signed: bool) -> String {
    match bytes {
        16 if signed => "__int128".into(),
        16 => "unsigned __int128".into(),
        _ => format!("{}int{}_t", if signed { "" } else { "u" }, bytes * 8),
    }
}

fn base_name(ty: &FieldType, indent: usize, pads: &mut usize) -> String {
    match ty {
        FieldType::Int { bytes, signed } => int_name(*bytes, *signed),
        FieldType::Char => "char".into(),
        FieldType::Bool => "_Bool".into(),
        FieldType::Float { bytes: 4 } => "float".into(),
        FieldType::Float { bytes: 8 } => "double".into(),
        FieldType::Float { .. } => "long double".into(),
        FieldType::Pointer => "uint64_t".into(),
        FieldType::Enum { bytes, signed, .. } => int_name(*bytes, *signed),
        FieldType::Named { union, name } => {
            format!("{} {name}", if *union { "union" } else { "struct" })
        }
        FieldType::Anonymous(c) => {
            let mut s = String::new();
            body(&mut s, c, indent, pads);
            s
        }
    }
}

fn comment(ty: &FieldType) -> String {
    match ty {
        FieldType::Pointer => " /* pointer on the BPF side */".into(),
        FieldType::Enum { name, .. } if !name.is_empty() => format!(" /* enum {name} */"),
        _ => String::new(),
    }
}

/// `struct { ... } __attribute__((packed))`, members indented one level below
/// `indent`.
///
/// Padding names are numbered across the whole top-level type: members of
/// anonymous structs share their parent's namespace in C.
fn body(out: &mut String, c: &Composite, indent: usize, pads: &mut usize) {
    let kw = if c.union { "union" } else { "struct" };
    let pad = "\t".repeat(indent + 1);
    if c.name.is_empty() {
        out.push_str(kw);
        out.push_str(" {\n");
    } else {
        let _ = writeln!(out, "{kw} {} {{", c.name);
    }
    for item in &c.items {
        match item {
            Item::Pad { bytes } => {
                let _ = writeln!(out, "{pad}char __pad{pads}[{bytes}];");
                *pads += 1;
            }
            Item::Field {
                name,
                ty,
                dims,
                offset,
                ..
            } => {
                let dims: String = dims.iter().map(|d| format!("[{d}]")).collect();
                let _ = writeln!(
                    out,
                    "{pad}{} {name}{dims};{} /* offset {offset} */",
                    base_name(ty, indent + 1, pads),
                    comment(ty)
                );
            }
            Item::Bitfields {
                offset,
                bytes,
                fields,
            } => bitfields(out, &pad, *offset, *bytes, fields),
        }
    }
    let _ = write!(out, "{}}} __attribute__((packed))", "\t".repeat(indent));
}

/// Bitfields in a packed struct sit bit after bit; unnamed fields fill gaps so
/// each lands on its BPF-side bit.
fn bitfields(out: &mut String, pad: &str, offset: u64, bytes: u64, fields: &[Bitfield]) {
    let _ = writeln!(
        out,
        "{pad}/* bitfields in bytes {offset}..{} */",
        offset + bytes
    );
    let mut bit = 0u32;
    let gap = |out: &mut String, mut width: u32| {
        while width > 0 {
            let w = width.min(64);
            let _ = writeln!(out, "{pad}uint64_t : {w};");
            width -= w;
        }
    };
    for f in fields {
        if f.bit > bit {
            gap(out, f.bit - bit);
        }
        let _ = writeln!(
            out,
            "{pad}{} {} : {};",
            int_name(f.decl_bytes, f.signed),
            f.name,
            f.width
        );
        bit = f.bit + f.width;
    }
    let total = (bytes * 8) as u32;
    if total > bit {
        gap(out, total - bit);
    }
}

fn asserts(out: &mut String, c: &Composite) {
    let kw = if c.union { "union" } else { "struct" };
    let _ = writeln!(
        out,
        "_Static_assert(sizeof({kw} {}) == {}, \"size of {kw} {} differs from the BPF side\");",
        c.name, c.size, c.name
    );
    for item in &c.items {
        if let Item::Field { name, offset, .. } = item {
            // Anonymous members have no name to take the offset of.
            if !name.is_empty() {
                let _ = writeln!(
                    out,
                    "_Static_assert(offsetof({kw} {}, {name}) == {offset}, \"{}.{name} is misplaced\");",
                    c.name, c.name
                );
            }
        }
    }
}

/// Every enum and composite of `plan`, each inside its own guard so that a
/// skeleton and a types header from the same object can both be included.
pub(crate) fn definitions(out: &mut String, plan: &Plan) {
    for e in &plan.enums {
        if e.values.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "#ifndef UNIBPF_DEFINED_enum_{0}
#define UNIBPF_DEFINED_enum_{0}",
            e.name
        );
        let _ = writeln!(out, "enum {} {{", e.name);
        for (n, v) in &e.values {
            let wide = *v > i64::from(i32::MAX) || *v < i64::from(i32::MIN);
            let _ = writeln!(out, "\t{n} = {v}{},", if wide { "LL" } else { "" });
        }
        out.push_str("};\n#endif\n\n");
    }
    for c in &plan.composites {
        composite(out, c);
    }
}

/// One named composite with its guard and asserts.
pub(crate) fn composite(out: &mut String, c: &Composite) {
    let kw = if c.union { "union" } else { "struct" };
    let _ = writeln!(
        out,
        "#ifndef UNIBPF_DEFINED_{kw}_{0}\n#define UNIBPF_DEFINED_{kw}_{0}",
        c.name
    );
    body(out, c, 0, &mut 0);
    out.push_str(";\n");
    asserts(out, c);
    out.push_str("#endif\n\n");
}

/// The whole header.
pub fn render(plan: &Plan, guard: &str, source: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/* Generated by `unibpf gen types` from {source}: the BPF side's types with\n * their exact 64-bit byte layout, for wasm32 guests. Do not edit. */"
    );
    let _ = writeln!(out, "#ifndef {guard}\n#define {guard}\n");
    out.push_str("#include <stddef.h>\n#include <stdint.h>\n\n");
    definitions(&mut out, plan);
    let _ = writeln!(out, "#endif /* {guard} */");
    out
}
