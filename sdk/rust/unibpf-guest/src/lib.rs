//! Rust guest SDK for unibpf: drive BPF objects from a wasm32-wasip1 module,
//! in the style of libbpf-rs.
//!
//! ```no_run
//! use unibpf_guest::{EventBuffer, OpenObject};
//!
//! # fn run(object_file: &[u8]) -> unibpf_guest::Result<()> {
//! // object_file: e.g. include_bytes!("bootstrap.bpf.o")
//! let mut open = OpenObject::new(object_file);
//! open.set_global("min_duration_ns", &10_000_000u64.to_ne_bytes())?;
//! let mut object = open.load()?;
//! object.attach_all()?;
//! let mut events = EventBuffer::new(&object, "rb", |record: &[u8]| {
//!     println!("{} bytes", record.len());
//!     0
//! })?;
//! loop {
//!     match events.poll(100) {
//!         Ok(_) => {}
//!         Err(e) if e.is_interrupted() => break, // the runtime asks us to stop
//!         Err(e) => return Err(e),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Records and map values are plain bytes laid out as on the BPF side; with
//! `unibpf gen types --lang rust` they are read in place as typed structs
//! ([`Plain`] types, [`from_bytes`]).

mod elf;
mod sys;

use std::ffi::CString;
use std::fmt;
use std::marker::PhantomData;

/// A negative errno from the host, in WASI numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    errno: i32,
    what: &'static str,
}

/// WASI errno values the SDK names.
pub mod errno {
    pub const ENOENT: i32 = 44;
    pub const EINTR: i32 = 27;
    pub const EINVAL: i32 = 28;
    pub const ENOMEM: i32 = 48;
    pub const EBUSY: i32 = 10;
}

impl Error {
    fn new(errno: i32, what: &'static str) -> Self {
        Self {
            errno: errno.abs(),
            what,
        }
    }

    /// The errno (positive, WASI numbering).
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The runtime asked the module to stop: end the event loop.
    pub fn is_interrupted(&self) -> bool {
        self.errno == errno::EINTR
    }

    pub fn is_not_found(&self) -> bool {
        self.errno == errno::ENOENT
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: errno {}", self.what, self.errno)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn check(ret: i32, what: &'static str) -> Result<i32> {
    if ret < 0 {
        Err(Error::new(ret, what))
    } else {
        Ok(ret)
    }
}

fn c_string(s: &str, what: &'static str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(errno::EINVAL, what))
}

/// An object not yet loaded: a private copy of the ELF that global
/// variables and program selection are patched into.
pub struct OpenObject {
    elf: Vec<u8>,
}

impl OpenObject {
    pub fn new(elf: &[u8]) -> Self {
        Self { elf: elf.to_vec() }
    }

    /// Sets the initial value of a global variable in `.rodata` or `.data`
    /// (`const volatile` settings the verifier then sees as constants).
    /// `bytes` must be exactly the variable's size.
    pub fn set_global(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let range = elf::global_range(&self.elf, name).ok_or(Error::new(
            errno::ENOENT,
            "set_global: no such initialized global",
        ))?;
        if range.len() != bytes.len() {
            return Err(Error::new(
                errno::EINVAL,
                "set_global: size differs from the variable",
            ));
        }
        self.elf[range].copy_from_slice(bytes);
        Ok(())
    }

    /// Leaves the program out of the object the kernel sees (libbpf then
    /// skips it), so a program the host cannot run does not fail the load.
    pub fn set_autoload(&mut self, program: &str, autoload: bool) -> Result<()> {
        let at = elf::function_info_offset(&self.elf, program)
            .ok_or(Error::new(errno::ENOENT, "set_autoload: no such program"))?;
        // st_info = binding << 4 | type; STT_FUNC is 2, STT_NOTYPE 0.
        self.elf[at] = (self.elf[at] & 0xf0) | if autoload { 2 } else { 0 };
        Ok(())
    }

    pub fn load(self) -> Result<Object> {
        let len = i32::try_from(self.elf.len())
            .map_err(|_| Error::new(errno::EINVAL, "load: object too large"))?;
        // SAFETY: the buffer is valid for len bytes during the call.
        let handle = unsafe { sys::wasm_load_bpf_object(self.elf.as_ptr(), len) };
        if handle == 0 {
            return Err(Error::new(errno::EINVAL, "load (the runtime logged why)"));
        }
        Ok(Object {
            handle,
            elf: self.elf,
        })
    }
}

/// A loaded object. Dropping it detaches its programs and closes its maps.
pub struct Object {
    handle: u64,
    elf: Vec<u8>,
}

impl Object {
    /// Opens and loads `elf` unchanged.
    pub fn load(elf: &[u8]) -> Result<Self> {
        OpenObject::new(elf).load()
    }

    /// Attaches `program` by its section (`target` None) or to a target: an
    /// interface for xdp/tc, a cgroup path, `BINARY:FUNCTION` for uprobes.
    pub fn attach(&mut self, program: &str, target: Option<&str>) -> Result<()> {
        let name = c_string(program, "attach: program name")?;
        let target = target.map(|t| c_string(t, "attach: target")).transpose()?;
        let target_ptr = target
            .as_ref()
            .map_or(std::ptr::null(), |t| t.as_ptr().cast());
        // SAFETY: both strings are NUL-terminated and outlive the call.
        let ret =
            unsafe { sys::wasm_attach_bpf_program(self.handle, name.as_ptr().cast(), target_ptr) };
        check(ret, "attach").map(drop)
    }

    /// Attaches every program in the object by its section.
    pub fn attach_all(&mut self) -> Result<()> {
        for name in self.program_names() {
            self.attach(&name, None)?;
        }
        Ok(())
    }

    /// Names of the programs (global functions in the object's sections).
    pub fn program_names(&self) -> Vec<String> {
        elf::program_names(&self.elf)
    }

    pub fn map(&self, name: &str) -> Result<Map<'_>> {
        let cname = c_string(name, "map: name")?;
        // SAFETY: NUL-terminated name, valid for the call.
        let fd = unsafe { sys::wasm_bpf_map_fd_by_name(self.handle, cname.as_ptr().cast()) };
        Ok(Map {
            fd: check(fd, "map lookup by name")?,
            _object: PhantomData,
        })
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // SAFETY: plain host call on our own handle.
        unsafe { sys::wasm_close_bpf_object(self.handle) };
    }
}

/// Types that are plain bytes: any bit pattern is a valid value, no
/// padding-dependent invariants, no pointers. The types `unibpf gen types
/// --lang rust` emits, integers and arrays of them qualify.
///
/// # Safety
/// Implement only for `Copy` types where every byte pattern is valid.
pub unsafe trait Plain: Copy {}

macro_rules! plain {
    ($($t:ty)*) => { $(unsafe impl Plain for $t {})* };
}
plain!(u8 i8 u16 i16 u32 i32 u64 i64 u128 i128 f32 f64);
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

fn bytes_of<T: Plain>(v: &T) -> &[u8] {
    // SAFETY: T is plain data; its bytes are readable.
    unsafe { std::slice::from_raw_parts((v as *const T).cast(), std::mem::size_of::<T>()) }
}

/// Reads a `T` from the start of `bytes` (a record or value), if long enough.
pub fn from_bytes<T: Plain>(bytes: &[u8]) -> Option<T> {
    (bytes.len() >= std::mem::size_of::<T>())
        // SAFETY: enough bytes, any pattern is a valid T, read unaligned.
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// A map of a loaded object.
#[derive(Debug, Clone, Copy)]
pub struct Map<'obj> {
    fd: i32,
    _object: PhantomData<&'obj Object>,
}

impl Map<'_> {
    pub fn fd(&self) -> i32 {
        self.fd
    }

    fn operate(&self, cmd: i32, key: *const u8, value: *mut u8, next: *mut u8, flags: u64) -> i32 {
        // SAFETY: callers pass buffers sized for this map's key and value;
        // the host bounds-checks them against the map's real sizes anyway.
        unsafe { sys::wasm_bpf_map_operate(self.fd, cmd, key, value, next, flags) }
    }

    /// The value under `key`, or None when there is none.
    pub fn lookup<K: Plain, V: Plain>(&self, key: &K) -> Result<Option<V>> {
        let mut value = std::mem::MaybeUninit::<V>::zeroed();
        let ret = self.operate(
            sys::MAP_LOOKUP,
            bytes_of(key).as_ptr(),
            value.as_mut_ptr().cast(),
            std::ptr::null_mut(),
            0,
        );
        match ret {
            0 => Ok(Some(unsafe { value.assume_init() })),
            e if -e == errno::ENOENT => Ok(None),
            e => Err(Error::new(e, "map lookup")),
        }
    }

    /// Per-CPU maps: one value per possible CPU, read into `values`
    /// (which must have room for every possible CPU).
    pub fn lookup_percpu<K: Plain, V: Plain>(&self, key: &K, values: &mut [V]) -> Result<bool> {
        let ret = self.operate(
            sys::MAP_LOOKUP,
            bytes_of(key).as_ptr(),
            values.as_mut_ptr().cast(),
            std::ptr::null_mut(),
            0,
        );
        match ret {
            0 => Ok(true),
            e if -e == errno::ENOENT => Ok(false),
            e => Err(Error::new(e, "per-CPU map lookup")),
        }
    }

    /// `flags`: 0 any, 1 only if absent, 2 only if present.
    pub fn update<K: Plain, V: Plain>(&self, key: &K, value: &V, flags: u64) -> Result<()> {
        let ret = self.operate(
            sys::MAP_UPDATE,
            bytes_of(key).as_ptr(),
            bytes_of(value).as_ptr().cast_mut(),
            std::ptr::null_mut(),
            flags,
        );
        check(ret, "map update").map(drop)
    }

    /// Deletes `key`; Ok(false) when it was not there.
    pub fn delete<K: Plain>(&self, key: &K) -> Result<bool> {
        let ret = self.operate(
            sys::MAP_DELETE,
            bytes_of(key).as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
        match ret {
            0 => Ok(true),
            e if -e == errno::ENOENT => Ok(false),
            e => Err(Error::new(e, "map delete")),
        }
    }

    /// Every key, from the first.
    pub fn keys<K: Plain>(&self) -> Keys<'_, K> {
        Keys {
            map: *self,
            last: None,
            done: false,
        }
    }

    /// Every (key, value) pair; pairs deleted meanwhile are skipped.
    pub fn iter<K: Plain + 'static, V: Plain + 'static>(
        &self,
    ) -> impl Iterator<Item = Result<(K, V)>> + '_ {
        self.keys::<K>().filter_map(move |k| match k {
            Err(e) => Some(Err(e)),
            Ok(k) => match self.lookup::<K, V>(&k) {
                Ok(Some(v)) => Some(Ok((k, v))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            },
        })
    }
}

pub struct Keys<'m, K> {
    map: Map<'m>,
    last: Option<K>,
    done: bool,
}

impl<K: Plain> Iterator for Keys<'_, K> {
    type Item = Result<K>;

    fn next(&mut self) -> Option<Result<K>> {
        if self.done {
            return None;
        }
        let mut next = std::mem::MaybeUninit::<K>::zeroed();
        let key = self
            .last
            .as_ref()
            .map_or(std::ptr::null(), |k| bytes_of(k).as_ptr());
        let ret = self.map.operate(
            sys::MAP_NEXT_KEY,
            key,
            std::ptr::null_mut(),
            next.as_mut_ptr().cast(),
            0,
        );
        match ret {
            0 => {
                // SAFETY: the host wrote a whole key; K is plain.
                let k = unsafe { next.assume_init() };
                self.last = Some(k);
                Some(Ok(k))
            }
            e => {
                self.done = true;
                (-e != errno::ENOENT).then(|| Err(Error::new(e, "map iteration")))
            }
        }
    }
}

type Callback<'a> = Box<dyn FnMut(&[u8]) -> i32 + 'a>;

/// Records from a ring buffer or perf event array map, whichever the host
/// ended up with, handed to a closure in order. The closure returns 0 to go
/// on, or a negative value to stop the poll (the rest is kept for the next).
pub struct EventBuffer<'a> {
    handle: u64,
    fd: i32,
    data: Vec<u8>,
    // Boxed twice so the host gets a thin pointer to the closure.
    callback: Box<Callback<'a>>,
}

/// Called by the host through the function table for each record.
extern "C" fn deliver(ctx: u32, data: u32, size: u32) -> i32 {
    // SAFETY: ctx is the address of the Callback boxed in the EventBuffer that
    // is being polled (it lives across the poll), and the host wrote `size`
    // bytes at `data` inside our memory.
    unsafe {
        let callback = &mut *(ctx as usize as *mut Callback<'_>);
        let record = std::slice::from_raw_parts(data as usize as *const u8, size as usize);
        callback(record)
    }
}

impl<'a> EventBuffer<'a> {
    /// Records longer than 64 KiB are truncated; see [`Self::with_record_size`].
    pub fn new(
        object: &'a Object,
        map: &str,
        callback: impl FnMut(&[u8]) -> i32 + 'a,
    ) -> Result<Self> {
        Self::with_record_size(object, map, 64 * 1024, callback)
    }

    pub fn with_record_size(
        object: &'a Object,
        map: &str,
        record_size: usize,
        callback: impl FnMut(&[u8]) -> i32 + 'a,
    ) -> Result<Self> {
        let fd = object.map(map)?.fd;
        let mut buffer = Self {
            handle: object.handle,
            fd,
            data: vec![0; record_size.max(1)],
            callback: Box::new(Box::new(callback)),
        };
        // A zero-timeout poll makes the host create its reader now: a perf
        // event array drops records written before one exists.
        match buffer.poll(0) {
            Err(e) if !e.is_interrupted() => Err(e),
            _ => Ok(buffer),
        }
    }

    /// Waits up to `timeout_ms` and delivers every record; returns how many.
    /// `Err(e)` with `e.is_interrupted()` means the runtime asks us to stop.
    pub fn poll(&mut self, timeout_ms: i32) -> Result<usize> {
        let ctx = &mut *self.callback as *mut Callback<'a> as usize as u32;
        // Function pointers are table indices on wasm32.
        let func = deliver as extern "C" fn(u32, u32, u32) -> i32 as usize as i32;
        let len = i32::try_from(self.data.len()).unwrap_or(i32::MAX);
        // SAFETY: data is valid for len bytes; ctx stays valid during the call.
        let ret = unsafe {
            sys::wasm_bpf_buffer_poll(
                self.handle,
                self.fd,
                func,
                ctx,
                self.data.as_mut_ptr(),
                len,
                timeout_ms,
            )
        };
        check(ret, "event poll").map(|n| n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_round_trip_through_bytes() {
        let v: [u32; 2] = [7, 9];
        assert_eq!(from_bytes::<[u32; 2]>(bytes_of(&v)), Some(v));
        assert_eq!(from_bytes::<u64>(&[1, 2, 3]), None);
    }

    #[test]
    fn open_object_rejects_unknown_names_and_bad_elf() {
        let mut open = OpenObject::new(b"not an elf");
        assert!(open.set_global("x", &[0]).unwrap_err().is_not_found());
        assert!(open.set_autoload("p", false).unwrap_err().is_not_found());
    }
}
