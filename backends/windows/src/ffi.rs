//! ebpfapi.dll's libbpf-compatible calls, declared by hand from their
//! signatures in eBPF for Windows' include/bpf/libbpf.h, bpf.h and
//! ebpf_api.h, and resolved once when the backend is made. `fd_t` is a
//! 32-bit int; `long` is 32 bits on Windows.

use std::ffi::{c_char, c_int, c_uint, c_void};

use libloading::Library;

use crate::DllError;

/// `struct bpf_object`, `bpf_program`, `bpf_map`, `bpf_link`,
/// `ring_buffer`: opaque, only ever behind pointers ebpfapi.dll gives.
#[repr(C)]
pub struct Object {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct Program {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct Map {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct Link {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct RingBuffer {
    _opaque: [u8; 0],
}

/// `ring_buffer_sample_fn`.
pub type SampleFn = unsafe extern "C" fn(ctx: *mut c_void, data: *mut c_void, size: usize) -> c_int;

/// `ebpf_execution_type_t`: EBPF_EXECUTION_ANY.
pub const EXECUTION_ANY: c_int = 0;
/// `ebpf_result_t`: EBPF_SUCCESS.
pub const EBPF_SUCCESS: c_int = 0;

macro_rules! api {
    ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// The calls, resolved; valid as long as the library they came
        /// from, which this owns.
        #[allow(non_snake_case)]
        pub struct Api {
            $(pub $name: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
            _lib: Library,
        }

        // The calls keep efW's names (`bpf_object__open_mem`).
        #[allow(non_snake_case)]
        impl Api {
            /// Loads ebpfapi.dll from the DLL search path and resolves
            /// every call; the first missing one is named.
            pub fn load() -> Result<Api, DllError> {
                // SAFETY: loading the DLL runs its initialisation, as for
                // any program using eBPF for Windows.
                let lib = unsafe { Library::new("ebpfapi.dll") }
                    .map_err(|e| DllError::NotLoaded(e.to_string()))?;
                $(
                    // SAFETY: the type is the call's C signature as efW's
                    // headers declare it; the pointer is copied out and
                    // used only while `_lib` (moved into Api) stays loaded.
                    let $name = unsafe {
                        *lib.get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>(
                            concat!(stringify!($name), "\0").as_bytes(),
                        )
                        .map_err(|_| DllError::MissingExport(stringify!($name)))?
                    };
                )*
                Ok(Api { $($name,)* _lib: lib })
            }
        }
    };
}

api! {
    bpf_object__open_mem: fn(*const c_void, usize, *const c_void) -> *mut Object;
    bpf_object__open: fn(*const c_char) -> *mut Object;
    ebpf_object_set_execution_type: fn(*mut Object, c_int) -> c_int;
    bpf_object__load: fn(*mut Object) -> c_int;
    bpf_object__close: fn(*mut Object);
    bpf_object__next_program: fn(*const Object, *mut Program) -> *mut Program;
    bpf_object__next_map: fn(*const Object, *const Map) -> *mut Map;
    bpf_program__name: fn(*const Program) -> *const c_char;
    bpf_program__section_name: fn(*const Program) -> *const c_char;
    bpf_program__fd: fn(*const Program) -> c_int;
    bpf_program__attach: fn(*const Program) -> *mut Link;
    bpf_link__destroy: fn(*mut Link) -> c_int;
    bpf_prog_attach: fn(c_int, c_int, c_int, c_uint) -> c_int;
    bpf_prog_detach2: fn(c_int, c_int, c_int) -> c_int;
    bpf_map__name: fn(*const Map) -> *const c_char;
    bpf_map__type: fn(*const Map) -> c_int;
    bpf_map__fd: fn(*const Map) -> c_int;
    bpf_map__key_size: fn(*const Map) -> u32;
    bpf_map__value_size: fn(*const Map) -> u32;
    bpf_map__max_entries: fn(*const Map) -> u32;
    bpf_map_lookup_elem: fn(c_int, *const c_void, *mut c_void) -> c_int;
    bpf_map_update_elem: fn(c_int, *const c_void, *const c_void, u64) -> c_int;
    bpf_map_delete_elem: fn(c_int, *const c_void) -> c_int;
    bpf_map_get_next_key: fn(c_int, *const c_void, *mut c_void) -> c_int;
    ring_buffer__new: fn(c_int, SampleFn, *mut c_void, *const c_void) -> *mut RingBuffer;
    ring_buffer__poll: fn(*mut RingBuffer, c_int) -> c_int;
    ring_buffer__free: fn(*mut RingBuffer);
    libbpf_get_error: fn(*const c_void) -> i32;
    libbpf_num_possible_cpus: fn() -> c_int;
    ebpf_duplicate_fd: fn(c_int, *mut c_int) -> c_int;
    ebpf_close_fd: fn(c_int) -> c_int;
}

/// A NUL-terminated string ebpfapi.dll returned, copied (None for NULL).
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for
/// the call (efW's names live as long as their object).
pub unsafe fn string(p: *const c_char) -> Option<String> {
    // SAFETY: per the function's contract.
    (!p.is_null()).then(|| {
        unsafe { std::ffi::CStr::from_ptr(p) }
            .to_string_lossy()
            .into_owned()
    })
}
