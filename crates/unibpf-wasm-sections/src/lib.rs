//! Just enough of the wasm binary format to find and add custom sections:
//! the header, then sections of `id: u8, size: u32 LEB128, payload`; a
//! custom section (id 0) starts its payload with a LEB128-prefixed name.

use std::ops::Range;

const MAGIC: &[u8; 4] = b"\0asm";
/// The core module format; components use other version numbers.
const VERSION: [u8; 4] = [1, 0, 0, 0];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WasmError {
    #[error("not a WebAssembly module: it does not start with the \\0asm magic bytes")]
    NotWasm,
    #[error("WebAssembly binary version {0:?} is not the core module format (1); components are not supported")]
    Version([u8; 4]),
    #[error("malformed WebAssembly module: {what} at byte {offset}")]
    Malformed { what: &'static str, offset: usize },
    #[error("the module has more than one custom section {0:?}")]
    Duplicate(String),
    #[error("a custom section of {0} bytes does not fit a wasm section's 32-bit size")]
    Oversized(usize),
}

/// One section of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'a> {
    pub id: u8,
    /// The bytes of the whole section, header included.
    pub range: Range<usize>,
    /// For custom sections: the name, and the payload after it.
    pub custom: Option<(&'a str, &'a [u8])>,
}

/// Every section of `wasm`, in order, each checked to lie inside it.
pub fn sections(wasm: &[u8]) -> Result<Vec<Section<'_>>, WasmError> {
    if wasm.get(..4) != Some(MAGIC) {
        return Err(WasmError::NotWasm);
    }
    let version: [u8; 4] = match wasm.get(4..8) {
        Some(v) => [v[0], v[1], v[2], v[3]],
        None => {
            return Err(WasmError::Malformed {
                what: "the header is cut short",
                offset: wasm.len(),
            })
        }
    };
    if version != VERSION {
        return Err(WasmError::Version(version));
    }
    let mut out = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let start = pos;
        let id = wasm[pos];
        let (size, after) = read_u32(wasm, pos + 1)?;
        let end = after
            .checked_add(size as usize)
            .filter(|&e| e <= wasm.len())
            .ok_or(WasmError::Malformed {
                what: "a section runs past the end",
                offset: start,
            })?;
        let custom = if id == 0 {
            Some(custom_name(wasm, after, end)?)
        } else {
            None
        };
        out.push(Section {
            id,
            range: start..end,
            custom,
        });
        pos = end;
    }
    Ok(out)
}

fn custom_name(wasm: &[u8], start: usize, end: usize) -> Result<(&str, &[u8]), WasmError> {
    let bad = |what| WasmError::Malformed {
        what,
        offset: start,
    };
    let (len, after) = read_u32(&wasm[..end], start)?;
    let name_end = after
        .checked_add(len as usize)
        .filter(|&e| e <= end)
        .ok_or(bad("a custom section's name runs past it"))?;
    let name = std::str::from_utf8(&wasm[after..name_end])
        .map_err(|_| bad("a custom section's name is not UTF-8"))?;
    Ok((name, &wasm[name_end..end]))
}

/// An unsigned LEB128 of at most 5 bytes at `pos`; returns it and the next offset.
fn read_u32(bytes: &[u8], pos: usize) -> Result<(u32, usize), WasmError> {
    let mut value: u64 = 0;
    for i in 0..5 {
        let Some(&b) = bytes.get(pos + i) else {
            return Err(WasmError::Malformed {
                what: "a size is cut short",
                offset: pos,
            });
        };
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(value).map(|v| (v, pos + i + 1)).map_err(|_| {
                WasmError::Malformed {
                    what: "a size does not fit 32 bits",
                    offset: pos,
                }
            });
        }
    }
    Err(WasmError::Malformed {
        what: "a size is longer than 5 bytes",
        offset: pos,
    })
}

fn write_u32(mut value: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The payload of the custom section `name`: None when there is none, an
/// error when there are several (which one would count is ambiguous).
pub fn custom_payload<'a>(wasm: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, WasmError> {
    let mut found = sections(wasm)?
        .into_iter()
        .filter_map(|s| s.custom.filter(|(n, _)| *n == name))
        .map(|(_, payload)| payload);
    let first = found.next();
    match found.next() {
        Some(_) => Err(WasmError::Duplicate(name.to_string())),
        None => Ok(first),
    }
}

/// `wasm` with every custom section `name` removed and one with `payload`
/// appended.
pub fn replace_custom_section(
    wasm: &[u8],
    name: &str,
    payload: &[u8],
) -> Result<Vec<u8>, WasmError> {
    let secs = sections(wasm)?;
    let section = custom_section(name, payload).ok_or(WasmError::Oversized(payload.len()))?;
    let mut out = Vec::with_capacity(wasm.len() + section.len());
    out.extend_from_slice(&wasm[..8]);
    for s in secs
        .iter()
        .filter(|s| !matches!(s.custom, Some((n, _)) if n == name))
    {
        out.extend_from_slice(&wasm[s.range.clone()]);
    }
    out.extend_from_slice(&section);
    Ok(out)
}

/// A whole custom section: id 0, size, name, payload. None when it would
/// not fit a section's 32-bit size.
pub fn custom_section(name: &str, payload: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::with_capacity(name.len() + payload.len() + 5);
    write_u32(u32::try_from(name.len()).ok()?, &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(0);
    write_u32(u32::try_from(body.len()).ok()?, &mut out);
    out.extend_from_slice(&body);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn custom_sections_round_trip() {
        let mut wasm = EMPTY.to_vec();
        let payload = vec![7u8; 300];
        wasm.extend(custom_section("unibpf.btf", &payload).unwrap());
        let s = sections(&wasm).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].custom, Some(("unibpf.btf", &payload[..])));
        assert_eq!(s[0].range, 8..wasm.len());
    }

    #[test]
    fn a_replaced_section_is_the_only_one_of_its_name() {
        let mut wasm = EMPTY.to_vec();
        wasm.extend(custom_section("other", b"keep").unwrap());
        wasm.extend(custom_section("mine", b"old").unwrap());
        let out = replace_custom_section(&wasm, "mine", b"new").unwrap();
        assert_eq!(custom_payload(&out, "mine").unwrap(), Some(&b"new"[..]));
        assert_eq!(custom_payload(&out, "other").unwrap(), Some(&b"keep"[..]));
        assert_eq!(custom_payload(&out, "absent").unwrap(), None);
        let mut twice = out.clone();
        twice.extend(custom_section("mine", b"again").unwrap());
        assert_eq!(
            custom_payload(&twice, "mine"),
            Err(WasmError::Duplicate("mine".into()))
        );
    }

    #[test]
    fn leb128_edges() {
        for v in [0u32, 1, 127, 128, 16_383, 16_384, u32::MAX] {
            let mut b = Vec::new();
            write_u32(v, &mut b);
            assert_eq!(read_u32(&b, 0).unwrap(), (v, b.len()));
        }
        assert!(read_u32(&[0x80, 0x80], 0).is_err());
        assert!(read_u32(&[0xff, 0xff, 0xff, 0xff, 0x7f], 0).is_err());
        assert!(read_u32(&[0x80; 6], 0).is_err());
    }

    #[test]
    fn damage_is_reported_not_panicked_on() {
        assert_eq!(sections(b"\x7fELF"), Err(WasmError::NotWasm));
        assert!(matches!(
            sections(b"\0asm\x0d\0\x01\0"),
            Err(WasmError::Version(_))
        ));
        let mut cut = EMPTY.to_vec();
        cut.extend(custom_section("x", b"abc").unwrap());
        cut.pop();
        assert!(matches!(sections(&cut), Err(WasmError::Malformed { .. })));
        let mut long_name = EMPTY.to_vec();
        long_name.extend([0, 2, 9, b'a']);
        assert!(sections(&long_name).is_err());
    }
}
