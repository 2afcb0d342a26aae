//! The `wasm_bpf` host imports. Pointers are wasm32 addresses.

pub(crate) const MAP_LOOKUP: i32 = 1;
pub(crate) const MAP_UPDATE: i32 = 2;
pub(crate) const MAP_DELETE: i32 = 3;
pub(crate) const MAP_NEXT_KEY: i32 = 4;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "wasm_bpf")]
extern "C" {
    pub(crate) fn wasm_load_bpf_object(obj_buf: *const u8, obj_buf_sz: i32) -> u64;
    pub(crate) fn wasm_close_bpf_object(obj: u64) -> i32;
    pub(crate) fn wasm_attach_bpf_program(
        obj: u64,
        name: *const u8,
        attach_target: *const u8,
    ) -> i32;
    pub(crate) fn wasm_bpf_buffer_poll(
        obj: u64,
        fd: i32,
        sample_func: i32,
        ctx: u32,
        data: *mut u8,
        max_size: i32,
        timeout_ms: i32,
    ) -> i32;
    pub(crate) fn wasm_bpf_map_fd_by_name(obj: u64, name: *const u8) -> i32;
    pub(crate) fn wasm_bpf_map_operate(
        fd: i32,
        cmd: i32,
        key: *const u8,
        value: *mut u8,
        next_key: *mut u8,
        flags: u64,
    ) -> i32;
}

// Off wasm32 there is no host: every call fails with ENOSYS (lets the crate's
// pure parts be unit-tested natively).
#[cfg(not(target_arch = "wasm32"))]
mod native {
    const ENOSYS: i32 = 52;
    pub(crate) unsafe fn wasm_load_bpf_object(_: *const u8, _: i32) -> u64 {
        0
    }
    pub(crate) unsafe fn wasm_close_bpf_object(_: u64) -> i32 {
        -ENOSYS
    }
    pub(crate) unsafe fn wasm_attach_bpf_program(_: u64, _: *const u8, _: *const u8) -> i32 {
        -ENOSYS
    }
    pub(crate) unsafe fn wasm_bpf_buffer_poll(
        _: u64,
        _: i32,
        _: i32,
        _: u32,
        _: *mut u8,
        _: i32,
        _: i32,
    ) -> i32 {
        -ENOSYS
    }
    pub(crate) unsafe fn wasm_bpf_map_fd_by_name(_: u64, _: *const u8) -> i32 {
        -ENOSYS
    }
    pub(crate) unsafe fn wasm_bpf_map_operate(
        _: i32,
        _: i32,
        _: *const u8,
        _: *mut u8,
        _: *mut u8,
        _: u64,
    ) -> i32 {
        -ENOSYS
    }
}
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::*;
