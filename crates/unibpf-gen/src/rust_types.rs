//! Renders a layout plan as Rust for wasm32 guests: `#[repr(C, packed)]`
//! types with explicit padding, compile-time size and offset asserts, and
//! accessor methods for bitfields (Rust has none). Meant for `include!`, so
//! every attribute is on its item.

use std::fmt::Write;

use crate::layout::{Bitfield, Composite, FieldType, Item, Plan};

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

fn name(n: &str) -> String {
    if KEYWORDS.contains(&n) {
        format!("r#{n}")
    } else {
        n.to_string()
    }
}

fn int(bytes: u32, signed: bool) -> String {
    format!("{}{}", if signed { "i" } else { "u" }, bytes * 8)
}

/// Anonymous members become named types `Parent__anon_N`, emitted first.
struct Renderer {
    out: String,
    anon: usize,
}

impl Renderer {
    fn scalar(&mut self, ty: &FieldType, owner: &str) -> String {
        match ty {
            FieldType::Int { bytes, signed } => int(*bytes, *signed),
            // Bytes as they are: c_char's sign differs between targets.
            FieldType::Char | FieldType::Bool => "u8".into(),
            FieldType::Float { bytes: 4 } => "f32".into(),
            FieldType::Float { .. } => "f64".into(),
            FieldType::Pointer => "u64".into(),
            FieldType::Enum { bytes, signed, .. } => int(*bytes, *signed),
            FieldType::Named { name: n, .. } => name(n),
            FieldType::Anonymous(c) => {
                let mut inner = (**c).clone();
                inner.name = format!("{owner}__anon_{}", self.anon);
                self.anon += 1;
                self.composite(&inner);
                inner.name
            }
        }
    }

    fn composite(&mut self, c: &Composite) {
        // Nested anonymous types first; collect field declarations meanwhile.
        let mut fields = Vec::new();
        let mut accessors = Vec::new();
        let mut pads = 0;
        for item in &c.items {
            match item {
                Item::Pad { bytes } => {
                    fields.push((format!("pub __pad{pads}: [u8; {bytes}]"), ""));
                    pads += 1;
                }
                Item::Field {
                    name: n, ty, dims, ..
                } => {
                    let mut t = self.scalar(ty, &c.name);
                    for d in dims.iter().rev() {
                        t = format!("[{t}; {d}]");
                    }
                    let comment = match ty {
                        FieldType::Pointer => " // pointer on the BPF side",
                        _ => "",
                    };
                    let n = if n.is_empty() {
                        let s = format!("__anon_member{pads}");
                        pads += 1;
                        s
                    } else {
                        name(n)
                    };
                    fields.push((format!("pub {n}: {t}"), comment));
                }
                Item::Bitfields {
                    bytes,
                    fields: bits,
                    ..
                } => {
                    let storage = format!("__bitfields{pads}");
                    pads += 1;
                    fields.push((format!("pub {storage}: [u8; {bytes}]"), ""));
                    for b in bits {
                        accessors.push(bitfield_accessors(&storage, b));
                    }
                }
            }
        }
        let kw = if c.union { "union" } else { "struct" };
        let _ = writeln!(
            self.out,
            "#[allow(non_camel_case_types, non_snake_case, dead_code)]\n#[repr(C, packed)]\n#[derive(Clone, Copy)]\npub {kw} {} {{",
            c.name
        );
        for (decl, comment) in &fields {
            let _ = writeln!(self.out, "    {decl},{comment}");
        }
        self.out.push_str("}\n");
        let _ = writeln!(
            self.out,
            "const _: () = assert!(core::mem::size_of::<{0}>() == {1}, \"size of {0} differs from the BPF side\");",
            c.name, c.size
        );
        if !c.union {
            for item in &c.items {
                if let Item::Field {
                    name: n, offset, ..
                } = item
                {
                    if !n.is_empty() {
                        let _ = writeln!(
                            self.out,
                            "const _: () = assert!(core::mem::offset_of!({}, {}) == {offset});",
                            c.name,
                            name(n)
                        );
                    }
                }
            }
        }
        let _ = writeln!(
            self.out,
            "impl Default for {0} {{\n    /// All zeroes, like a zero-initialized C value.\n    fn default() -> Self {{\n        // SAFETY: integers, floats and byte arrays: all-zero is valid.\n        unsafe {{ core::mem::zeroed() }}\n    }}\n}}",
            c.name
        );
        if !accessors.is_empty() {
            let _ = writeln!(
                self.out,
                "#[allow(non_snake_case, dead_code)]\nimpl {} {{\n{}}}",
                c.name,
                accessors.concat()
            );
        }
        self.out.push('\n');
    }
}

/// `name()` and `set_name()` for one bitfield, on little-endian storage.
fn bitfield_accessors(storage: &str, b: &Bitfield) -> String {
    let ty = int(b.decl_bytes.max(1), b.signed);
    let (bit, width) = (b.bit, b.width);
    let n = name(&b.name);
    let set = format!("set_{}", b.name);
    let extend = if b.signed {
        format!(
            "        let raw = if raw >> {} & 1 == 1 {{ raw | !((1u128 << {width}) - 1) }} else {{ raw }};\n        raw as i128 as {ty}\n",
            width - 1
        )
    } else {
        format!("        raw as {ty}\n")
    };
    format!(
        "    pub fn {n}(&self) -> {ty} {{\n        let storage = self.{storage};\n        let mut all = 0u128;\n        for (i, byte) in storage.iter().enumerate() {{\n            all |= u128::from(*byte) << (8 * i);\n        }}\n        let raw = (all >> {bit}) & ((1u128 << {width}) - 1);\n{extend}    }}\n    pub fn {set}(&mut self, value: {ty}) {{\n        let mut storage = self.{storage};\n        let mut all = 0u128;\n        for (i, byte) in storage.iter().enumerate() {{\n            all |= u128::from(*byte) << (8 * i);\n        }}\n        let mask = ((1u128 << {width}) - 1) << {bit};\n        all = (all & !mask) | (((value as i128 as u128) << {bit}) & mask);\n        for (i, byte) in storage.iter_mut().enumerate() {{\n            *byte = (all >> (8 * i)) as u8;\n        }}\n        self.{storage} = storage;\n    }}\n"
    )
}

/// The whole file.
pub fn render(plan: &Plan, source: &str) -> String {
    let mut r = Renderer {
        out: String::new(),
        anon: 0,
    };
    let _ = writeln!(
        r.out,
        "// Generated by `unibpf gen types --lang rust` from {source}: the BPF side's\n// types with their exact 64-bit byte layout, for wasm32 guests. Do not edit.\n"
    );
    for e in &plan.enums {
        if e.values.is_empty() {
            continue;
        }
        let _ = writeln!(
            r.out,
            "#[allow(non_snake_case, non_upper_case_globals, dead_code)]\npub mod {} {{",
            name(&format!("enum_{}", e.name))
        );
        for (n, v) in &e.values {
            let _ = writeln!(r.out, "    pub const {}: i64 = {v};", name(n));
        }
        r.out.push_str("}\n\n");
    }
    for c in &plan.composites {
        r.composite(c);
    }
    r.out
}
