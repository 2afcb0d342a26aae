//! Paths to the compiled test guests, facts about the kernel tests assert on,
//! and small helpers the tests share.

use std::ffi::CStr;
use std::path::PathBuf;

/// The compiled `NAME.wasm` (or `NAME.bpf.o`).
pub fn guest(file: &str) -> PathBuf {
    let path = PathBuf::from(env!("UNIBPF_GUESTS_DIR")).join(file);
    assert!(path.exists(), "guest {} was not built", path.display());
    path
}

/// Number of possible CPUs (the per-CPU map slot count).
pub fn possible_cpus() -> u32 {
    // SAFETY: no arguments; libbpf reads /sys/devices/system/cpu/possible.
    let n = unsafe { libbpf_sys::libbpf_num_possible_cpus() };
    u32::try_from(n).expect("possible CPUs")
}

fn names(
    next_id: unsafe extern "C" fn(u32, *mut u32) -> i32,
    info: impl Fn(u32) -> Option<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut id = 0u32;
    // SAFETY: next_id writes one u32.
    while unsafe { next_id(id, &mut id) } == 0 {
        if let Some(name) = info(id) {
            out.push(name);
        }
    }
    out
}

/// The name in a program's or map's info, read through `get_fd_by_id` and
/// `get_info_by_fd`; `Info` is `bpf_prog_info` or `bpf_map_info`.
fn info_name<Info>(
    id: u32,
    get_fd: unsafe extern "C" fn(u32) -> i32,
    get_info: unsafe extern "C" fn(i32, *mut Info, *mut u32) -> i32,
    name: impl Fn(&Info) -> &[std::ffi::c_char],
) -> Option<String> {
    // SAFETY: plain syscall wrappers; Info is the kernel's plain-data info struct,
    // zeroed and passed with its own size.
    unsafe {
        let fd = get_fd(id);
        if fd < 0 {
            return None;
        }
        let mut info: Info = std::mem::zeroed();
        let mut len = std::mem::size_of::<Info>() as u32;
        let r = get_info(fd, &mut info, &mut len);
        libc_close(fd);
        (r == 0).then(|| {
            CStr::from_ptr(name(&info).as_ptr())
                .to_string_lossy()
                .into_owned()
        })
    }
}

/// Names of every BPF program loaded in the kernel.
pub fn kernel_program_names() -> Vec<String> {
    names(libbpf_sys::bpf_prog_get_next_id, |id| {
        info_name(
            id,
            libbpf_sys::bpf_prog_get_fd_by_id,
            libbpf_sys::bpf_prog_get_info_by_fd,
            |i: &libbpf_sys::bpf_prog_info| &i.name[..],
        )
    })
}

/// Names of every BPF map in the kernel.
pub fn kernel_map_names() -> Vec<String> {
    names(libbpf_sys::bpf_map_get_next_id, |id| {
        info_name(
            id,
            libbpf_sys::bpf_map_get_fd_by_id,
            libbpf_sys::bpf_map_get_info_by_fd,
            |i: &libbpf_sys::bpf_map_info| &i.name[..],
        )
    })
}

/// Number of BPF links in the kernel.
pub fn kernel_link_count() -> usize {
    names(libbpf_sys::bpf_link_get_next_id, |id| Some(id.to_string())).len()
}

unsafe fn libc_close(fd: i32) {
    extern "C" {
        fn close(fd: i32) -> i32;
    }
    // SAFETY: fd came from a successful get_fd_by_id.
    unsafe { close(fd) };
}

/// Runs `/bin/true` to completion (one exec event) and returns its pid.
pub fn exec_true() -> u32 {
    let mut child = std::process::Command::new("/bin/true")
        .spawn()
        .expect("spawning /bin/true");
    let pid = child.id();
    child.wait().expect("waiting for /bin/true");
    pid
}

/// The value of the guest's `name=...` output line in `text`.
pub fn field<'a>(text: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}=");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name}= line in:\n{text}"))
}
