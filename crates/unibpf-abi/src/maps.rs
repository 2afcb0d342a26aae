//! `wasm_bpf_map_operate`: element operations on a map the module owns.
//!
//! Upstream hosts declare the pointer arguments as i32; the upstream Rust and Go
//! guest SDKs declare them as i64. We bind whichever the module declares.

use unibpf_backend::Errno;
use unibpf_hostcall::{guest_errno, GuestFault, GuestMemory, GuestMemoryMut};
use wasmi::{Caller, ExternType, Linker, Module, ValType};

use crate::handles::with_bpf;
use crate::{AbiError, BpfView};

const BPF_MAP_LOOKUP_ELEM: i32 = 1;
const BPF_MAP_UPDATE_ELEM: i32 = 2;
const BPF_MAP_DELETE_ELEM: i32 = 3;
const BPF_MAP_GET_NEXT_KEY: i32 = 4;

/// A key that overlaps the output buffer is copied to the stack before the
/// call (so the kernel's input and output do not alias); keys longer than this
/// are copied to the heap.
const INLINE_KEY: usize = 128;

fn fault(f: GuestFault) -> i32 {
    tracing::debug!("wasm_bpf_map_operate: {f}");
    guest_errno(f.errno())
}

/// A copy of the guest's key, so that the key and the value or next-key buffer
/// may overlap in guest memory without aliasing the kernel's input and output.
struct KeyCopy {
    inline: [u8; INLINE_KEY],
    heap: Vec<u8>,
    len: usize,
}

impl KeyCopy {
    fn new(mem: &[u8], ptr: u64, len: u64) -> Result<Self, GuestFault> {
        let src = GuestMemory::new(mem).slice(ptr, len)?;
        let mut copy = KeyCopy {
            inline: [0; INLINE_KEY],
            heap: Vec::new(),
            len: src.len(),
        };
        if src.len() <= INLINE_KEY {
            copy.inline[..src.len()].copy_from_slice(src);
        } else {
            copy.heap = src.to_vec();
        }
        Ok(copy)
    }

    fn bytes(&self) -> &[u8] {
        if self.len <= INLINE_KEY {
            &self.inline[..self.len]
        } else {
            &self.heap
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn operate(
    mem: &mut [u8],
    ctx: &mut crate::BpfCtx,
    fd: i32,
    cmd: i32,
    key: u64,
    value: u64,
    next_key: u64,
    flags: u64,
) -> i32 {
    let Some(entry) = ctx.map_entry(fd) else {
        tracing::debug!("wasm_bpf_map_operate: fd {fd} is not a map of this module");
        return guest_errno(Errno::EBADF.0);
    };
    let info = entry.map.info;
    let ops = &*entry.map.ops;
    let key_len = u64::from(info.key_size);
    let value_len = u64::from(info.value_buffer_size);
    let outcome = match cmd {
        BPF_MAP_LOOKUP_ELEM => {
            match GuestMemoryMut::new(mem).input_and_output(key, key_len, value, value_len) {
                Ok(Some((k, v))) => Ok(ops.lookup(k, v, flags)),
                // The value buffer overlaps the key: look up with a copy of it.
                Ok(None) => KeyCopy::new(mem, key, key_len).and_then(|k| {
                    let mut m = GuestMemoryMut::new(mem);
                    let v = m.slice_mut(value, value_len)?;
                    Ok(ops.lookup(k.bytes(), v, flags))
                }),
                Err(f) => Err(f),
            }
        }
        BPF_MAP_UPDATE_ELEM => {
            let m = GuestMemory::new(mem);
            m.slice(key, key_len)
                .and_then(|k| Ok(ops.update(k, m.slice(value, value_len)?, flags)))
        }
        BPF_MAP_DELETE_ELEM => GuestMemory::new(mem)
            .slice(key, key_len)
            .map(|k| ops.delete(k, flags)),
        BPF_MAP_GET_NEXT_KEY => {
            // NULL (0) asks for the first key, as in libbpf.
            let current = if key == 0 {
                None
            } else {
                Some(KeyCopy::new(mem, key, key_len))
            };
            current.transpose().and_then(|current| {
                let mut m = GuestMemoryMut::new(mem);
                let next = m.slice_mut(next_key, key_len)?;
                Ok(ops.next_key(current.as_ref().map(KeyCopy::bytes), next))
            })
        }
        _ => return guest_errno(Errno::EINVAL.0),
    };
    match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(errno)) => guest_errno(errno.0),
        Err(f) => fault(f),
    }
}

pub(crate) fn define<T: BpfView + 'static>(
    l: &mut Linker<T>,
    ns: &str,
    module: &Module,
) -> Result<(), AbiError> {
    let declared = module.imports().find_map(|i| {
        (i.module() == ns && i.name() == "wasm_bpf_map_operate").then(|| i.ty().clone())
    });
    let wide = match declared {
        Some(ExternType::Func(ty)) => {
            let p = ty.params();
            let narrow = [
                ValType::I32,
                ValType::I32,
                ValType::I32,
                ValType::I32,
                ValType::I32,
                ValType::I64,
            ];
            let wide = [
                ValType::I32,
                ValType::I32,
                ValType::I64,
                ValType::I64,
                ValType::I64,
                ValType::I64,
            ];
            if p == narrow && ty.results() == [ValType::I32] {
                false
            } else if p == wide && ty.results() == [ValType::I32] {
                true
            } else {
                return Err(AbiError::BadImportType {
                    module: ns.to_string(),
                    name: "wasm_bpf_map_operate".to_string(),
                    found: format!("{ty:?}"),
                    expected: "(i32 fd, i32 cmd, i32|i64 key, i32|i64 value, i32|i64 next_key, i64 flags) -> i32",
                });
            }
        }
        _ => false,
    };
    if wide {
        l.func_wrap(
            ns,
            "wasm_bpf_map_operate",
            |mut c: Caller<'_, T>,
             fd: i32,
             cmd: i32,
             key: u64,
             value: u64,
             next: u64,
             flags: u64| {
                with_bpf(&mut c, guest_errno(Errno::EFAULT.0), |mem, ctx| {
                    operate(mem, ctx, fd, cmd, key, value, next, flags)
                })
            },
        )?;
    } else {
        l.func_wrap(
            ns,
            "wasm_bpf_map_operate",
            |mut c: Caller<'_, T>,
             fd: i32,
             cmd: i32,
             key: u32,
             value: u32,
             next: u32,
             flags: u64| {
                with_bpf(&mut c, guest_errno(Errno::EFAULT.0), |mem, ctx| {
                    operate(
                        mem,
                        ctx,
                        fd,
                        cmd,
                        u64::from(key),
                        u64::from(value),
                        u64::from(next),
                        flags,
                    )
                })
            },
        )?;
    }
    Ok(())
}
