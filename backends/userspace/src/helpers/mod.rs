//! The helpers programs call, run against the maps of one object, the
//! current task and the emulated kernel objects.
//!
//! Pointers are VM addresses: map values and ring buffer records are in
//! their map's region, the emulated `task_struct`s in their own. "Kernel"
//! reads (`bpf_probe_read_kernel`) read VM memory; "user" reads read the
//! traced task's memory. Failures return the kernel's negative errnos to
//! the program; only a program error (an access outside its regions)
//! stops the run.

pub mod ids;
mod packet;
mod printk;
pub mod task;

use unibpf_backend::Errno;

use crate::maps::MapIndex;
use crate::vm::{HelperError, Memory};
use task::Task;

/// A map reference in a register: the map's index in an unmapped slot,
/// so it can be passed around but never read.
pub const MAP_HANDLE_BASE: u64 = 0xffff_fffe_0000_0000;

pub fn map_handle(index: usize) -> u64 {
    MAP_HANDLE_BASE + index as u64
}

fn map_of_handle(handle: u64) -> Option<usize> {
    handle
        .checked_sub(MAP_HANDLE_BASE)
        .filter(|i| *i < u32::MAX as u64)
        .map(|i| i as usize)
}

/// One map as a run sees it.
pub struct RunMap<'r> {
    pub index: &'r mut MapIndex,
    /// Where its values are mapped.
    pub base: u64,
    pub key_size: usize,
    pub value_size: usize,
}

/// Where `bpf_trace_printk` lines go.
pub type PrintSink<'r> = &'r mut dyn FnMut(&str);

/// Everything a run's helpers use.
pub struct Env<'r> {
    pub maps: Vec<RunMap<'r>>,
    pub task: &'r dyn Task,
    /// Address of the emulated current `task_struct` (0: none built).
    pub task_addr: u64,
    pub cpu: u32,
    pub print: PrintSink<'r>,
    /// State of `bpf_get_prandom_u32`.
    pub random: &'r mut u64,
    /// Whether a record was queued that a poller should be woken for.
    pub wake: bool,
    /// Reused buffers, so helpers allocate nothing per call.
    pub scratch: &'r mut Vec<u8>,
    pub key: &'r mut Vec<u8>,
    /// Tail calls taken so far in this run.
    pub tail_calls: u32,
    /// How many programs the object has: prog array slots hold their
    /// indexes (a guest may write anything there).
    pub programs: u32,
}

/// The kernel's cap on tail calls in one run (`MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALLS: u32 = 33;

fn neg(e: Errno) -> u64 {
    (-i64::from(e.0)) as u64
}

const EFAULT: u64 = (-14i64) as u64;
const ENOENT: u64 = (-2i64) as u64;
const EINVAL: u64 = (-22i64) as u64;

impl crate::vm::Helpers for Env<'_> {
    fn call(&mut self, id: u32, a: [u64; 5], memory: &mut Memory<'_>) -> Result<u64, HelperError> {
        use ids::*;
        Ok(match id {
            MAP_LOOKUP_ELEM => self.lookup(a[0], a[1], memory)?,
            MAP_UPDATE_ELEM => self.update(a[0], a[1], a[2], a[3], memory)?,
            MAP_DELETE_ELEM => self.delete(a[0], a[1], memory)?,
            TAIL_CALL => self.tail_call(a[1], a[2])?,
            KTIME_GET_NS => clock::monotonic_ns(),
            KTIME_GET_BOOT_NS => clock::boot_ns(),
            KTIME_GET_TAI_NS => clock::tai_ns(),
            GET_PRANDOM_U32 => self.prandom(),
            GET_SMP_PROCESSOR_ID => u64::from(self.cpu),
            GET_NUMA_NODE_ID => 0,
            GET_CURRENT_PID_TGID => u64::from(self.task.tgid()) << 32 | u64::from(self.task.tid()),
            GET_CURRENT_UID_GID => {
                let (uid, gid) = self.task.uid_gid();
                u64::from(gid) << 32 | u64::from(uid)
            }
            GET_CURRENT_COMM => self.comm(a[0], a[1], memory)?,
            GET_CURRENT_TASK | GET_CURRENT_TASK_BTF => self.task_addr,
            PROBE_READ_USER => self.read_user(a[0], a[1], a[2], memory)?,
            PROBE_READ_USER_STR => self.read_user_str(a[0], a[1], a[2], memory)?,
            PROBE_READ_KERNEL => read_vm(a[0], a[1], a[2], memory, self.scratch)?,
            PROBE_READ_KERNEL_STR => read_vm_str(a[0], a[1], a[2], memory, self.scratch)?,
            // The old helpers read either; a VM address is "kernel".
            PROBE_READ if memory.read(a[2], 1).is_ok() => {
                read_vm(a[0], a[1], a[2], memory, self.scratch)?
            }
            PROBE_READ => self.read_user(a[0], a[1], a[2], memory)?,
            PROBE_READ_STR if memory.read(a[2], 1).is_ok() => {
                read_vm_str(a[0], a[1], a[2], memory, self.scratch)?
            }
            PROBE_READ_STR => self.read_user_str(a[0], a[1], a[2], memory)?,
            TRACE_PRINTK => self.printk(a, memory)?,
            RINGBUF_RESERVE => self.ringbuf_reserve(a[0], a[1], a[2]),
            RINGBUF_SUBMIT => self.ringbuf_commit(a[0], a[1], false, memory),
            RINGBUF_DISCARD => self.ringbuf_commit(a[0], a[1], true, memory),
            RINGBUF_OUTPUT => self.ringbuf_output(a[0], a[1], a[2], a[3], memory)?,
            RINGBUF_QUERY => self.ringbuf_query(a[0], a[1]),
            PERF_EVENT_OUTPUT => self.perf_output(a[1], a[2], a[3], a[4], memory)?,
            SKB_LOAD_BYTES => packet::load_bytes(a[1], a[2], a[3], memory, self.scratch)?,
            SKB_LOAD_BYTES_RELATIVE => {
                packet::load_bytes_relative(a[1], a[2], a[3], a[4], memory, self.scratch)?
            }
            x if x == crate::load::POISON_HELPER as u32 => {
                return Err(HelperError::Failed(
                    "the program reached an instruction whose CO-RE relocation did not resolve: \
                     it reads a kernel field the userspace backend does not emulate"
                        .into(),
                ))
            }
            other => return Err(HelperError::Unknown(other)),
        })
    }
}

impl<'r> Env<'r> {
    fn map(&mut self, handle: u64) -> Option<&mut RunMap<'r>> {
        let i = map_of_handle(handle)?;
        self.maps.get_mut(i)
    }

    /// Copies `len` bytes at `addr` into the reused key buffer.
    fn key_from(&mut self, addr: u64, len: usize, memory: &Memory<'_>) -> Result<(), HelperError> {
        let bytes = memory.read(addr, len)?;
        self.key.clear();
        self.key.extend_from_slice(bytes);
        Ok(())
    }

    /// `bpf_tail_call(ctx, prog_array, index)`: on success the run goes
    /// on in the program in that slot (the VM stops this one); on failure
    /// (no such map or slot, an empty slot, the 33 tail calls of a run
    /// used up) the program goes on after the call, as in the kernel.
    fn tail_call(&mut self, handle: u64, index: u64) -> Result<u64, HelperError> {
        if self.tail_calls >= MAX_TAIL_CALLS {
            return Ok(ENOENT);
        }
        let slot = u32::try_from(index).ok();
        let target = self
            .map(handle)
            .and_then(|m| slot.and_then(|s| m.index.prog_at(s)));
        match target {
            Some(program) if program < self.programs => {
                self.tail_calls += 1;
                Err(HelperError::TailCall(program))
            }
            _ => Ok(ENOENT),
        }
    }

    fn lookup(&mut self, handle: u64, key: u64, memory: &Memory<'_>) -> Result<u64, HelperError> {
        let Some(len) = self.map(handle).map(|m| m.key_size) else {
            return Ok(0);
        };
        self.key_from(key, len, memory)?;
        let cpu = self.cpu;
        let key = std::mem::take(self.key);
        let found = self
            .map(handle)
            .and_then(|m| m.index.lookup(&key, cpu).map(|off| m.base + off as u64));
        *self.key = key;
        Ok(found.unwrap_or(0))
    }

    fn update(
        &mut self,
        handle: u64,
        key: u64,
        value: u64,
        flags: u64,
        memory: &mut Memory<'_>,
    ) -> Result<u64, HelperError> {
        let Some((klen, vlen)) = self.map(handle).map(|m| (m.key_size, m.value_size)) else {
            return Ok(EINVAL);
        };
        self.key_from(key, klen, memory)?;
        self.scratch.clear();
        self.scratch.extend_from_slice(memory.read(value, vlen)?);
        let cpu = self.cpu;
        let key = std::mem::take(self.key);
        let slot = match self.map(handle) {
            Some(m) => m
                .index
                .prepare_update(&key, flags, cpu)
                .map(|w| (m.base, w)),
            None => Err(Errno::EINVAL),
        };
        *self.key = key;
        match slot {
            Ok((base, w)) => {
                // A new per-CPU element starts with zeros on other CPUs.
                if !w.clear.is_empty() {
                    let len = w.clear.len();
                    memory
                        .write_slice(base + w.clear.start as u64, len)?
                        .fill(0);
                }
                memory.write(base + w.offset as u64, self.scratch)?;
                Ok(0)
            }
            Err(e) => Ok(neg(e)),
        }
    }

    fn delete(&mut self, handle: u64, key: u64, memory: &Memory<'_>) -> Result<u64, HelperError> {
        let Some(len) = self.map(handle).map(|m| m.key_size) else {
            return Ok(EINVAL);
        };
        self.key_from(key, len, memory)?;
        let key = std::mem::take(self.key);
        let result = match self.map(handle) {
            Some(m) => m.index.delete(&key),
            None => Err(Errno::EINVAL),
        };
        *self.key = key;
        Ok(result.map_or_else(neg, |()| 0))
    }

    fn prandom(&mut self) -> u64 {
        // xorshift64*: fast, and programs only sample with it.
        let mut x = *self.random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *self.random = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) & 0xffff_ffff
    }

    fn comm(&mut self, buf: u64, size: u64, memory: &mut Memory<'_>) -> Result<u64, HelperError> {
        let size = size as usize;
        if size == 0 {
            return Ok(EINVAL);
        }
        let comm = self.task.comm();
        let dst = memory.write_slice(buf, size)?;
        let n = comm.len().min(size - 1);
        dst[..n].copy_from_slice(&comm[..n]);
        dst[n..].fill(0);
        Ok(0)
    }

    fn read_user(
        &mut self,
        dst: u64,
        size: u64,
        src: u64,
        memory: &mut Memory<'_>,
    ) -> Result<u64, HelperError> {
        let out = memory.write_slice(dst, size as usize)?;
        match self.task.read(src, out) {
            Ok(()) => Ok(0),
            Err(_) => {
                out.fill(0);
                Ok(EFAULT)
            }
        }
    }

    fn read_user_str(
        &mut self,
        dst: u64,
        size: u64,
        src: u64,
        memory: &mut Memory<'_>,
    ) -> Result<u64, HelperError> {
        // Read aside, then copy up to the NUL: like the kernel, the bytes
        // of `dst` after the string stay as they were.
        self.scratch.clear();
        self.scratch.resize(size as usize, 0);
        let read = self.task.read_str(src, self.scratch);
        let out = memory.write_slice(dst, size as usize)?;
        if out.is_empty() {
            return Ok(0);
        }
        match read {
            Ok(n) => {
                let n = n.min(out.len());
                out[..n].copy_from_slice(&self.scratch[..n]);
                Ok(n as u64)
            }
            Err(_) => {
                out.fill(0);
                Ok(EFAULT)
            }
        }
    }

    fn printk(&mut self, a: [u64; 5], memory: &Memory<'_>) -> Result<u64, HelperError> {
        let fmt = memory.read(a[0], a[1] as usize)?;
        let task = self.task;
        let mut string = |addr: u64| {
            let mut buf = [0u8; 256];
            let n = match memory.read(addr, 1) {
                Ok(_) => vm_str(memory, addr, &mut buf),
                Err(_) => task.read_str(addr, &mut buf).unwrap_or(0),
            };
            String::from_utf8_lossy(&buf[..n.saturating_sub(1)]).into_owned()
        };
        match printk::format(fmt, &a[2..5], &mut string) {
            Some(line) => {
                (self.print)(&line);
                Ok(line.len() as u64)
            }
            None => Ok(EINVAL),
        }
    }
}

/// Copies a NUL-terminated string from VM memory; returns the bytes
/// written with the NUL (0 when nothing is readable).
fn vm_str(memory: &Memory<'_>, addr: u64, out: &mut [u8]) -> usize {
    let mut n = 0;
    while n + 1 < out.len() {
        match memory.read(addr.wrapping_add(n as u64), 1) {
            Ok(&[0]) | Err(_) => break,
            Ok(b) => out[n] = b[0],
        }
        n += 1;
    }
    if out.is_empty() {
        return 0;
    }
    out[n] = 0;
    n + 1
}

fn read_vm(
    dst: u64,
    size: u64,
    src: u64,
    memory: &mut Memory<'_>,
    scratch: &mut Vec<u8>,
) -> Result<u64, HelperError> {
    let size = size as usize;
    scratch.clear();
    let ok = match memory.read(src, size) {
        Ok(bytes) => {
            scratch.extend_from_slice(bytes);
            true
        }
        Err(_) => {
            scratch.resize(size, 0);
            false
        }
    };
    memory.write(dst, scratch)?;
    Ok(if ok { 0 } else { EFAULT })
}

fn read_vm_str(
    dst: u64,
    size: u64,
    src: u64,
    memory: &mut Memory<'_>,
    scratch: &mut Vec<u8>,
) -> Result<u64, HelperError> {
    scratch.clear();
    scratch.resize(size as usize, 0);
    let readable = memory.read(src, 1).is_ok();
    let n = if readable {
        vm_str(memory, src, scratch)
    } else {
        0
    };
    memory.write(dst, scratch)?;
    Ok(if readable || size == 0 {
        n as u64
    } else {
        EFAULT
    })
}

pub mod clock;
mod events;
