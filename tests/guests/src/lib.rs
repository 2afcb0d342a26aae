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

/// The BPF programs, maps and links a process holds through its file
/// descriptors, by kernel id (from `/proc/PID/fdinfo`): what that process
/// has loaded and attached, whatever else runs on the machine.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeldBpf {
    pub programs: Vec<u32>,
    pub maps: Vec<u32>,
    pub links: Vec<HeldLink>,
}

/// A link fd: its id, its type as the kernel names it (`perf`, `tcx`,
/// `xdp`, ...) and the program it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLink {
    pub id: u32,
    pub kind: String,
    pub program: u32,
}

impl HeldBpf {
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty() && self.maps.is_empty() && self.links.is_empty()
    }

    /// The ids here that still exist in the kernel.
    pub fn still_in_kernel(&self) -> HeldBpf {
        let alive = |ids: &[u32], get: unsafe extern "C" fn(u32) -> i32| -> Vec<u32> {
            ids.iter()
                .copied()
                .filter(|&id| {
                    // SAFETY: plain syscall wrapper; the fd is closed at once.
                    let fd = unsafe { get(id) };
                    if fd >= 0 {
                        // SAFETY: fd is ours.
                        unsafe { libc_close(fd) };
                    }
                    fd >= 0
                })
                .collect()
        };
        let link_ids: Vec<u32> = self.links.iter().map(|l| l.id).collect();
        let live_links = alive(&link_ids, libbpf_sys::bpf_link_get_fd_by_id);
        HeldBpf {
            programs: alive(&self.programs, libbpf_sys::bpf_prog_get_fd_by_id),
            maps: alive(&self.maps, libbpf_sys::bpf_map_get_fd_by_id),
            links: self
                .links
                .iter()
                .filter(|l| live_links.contains(&l.id))
                .cloned()
                .collect(),
        }
    }

    /// Waits until none of these exist any more (the kernel frees programs
    /// and maps from deferred work after their last reference goes), or
    /// panics naming what is left after `timeout`.
    pub fn assert_gone_within(&self, timeout: std::time::Duration, what: &str) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = self.still_in_kernel();
            if left.is_empty() {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!("{what}: still in the kernel after {timeout:?}: {left:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// What process `pid` holds; see [`HeldBpf`].
pub fn held_bpf(pid: u32) -> HeldBpf {
    let mut held = HeldBpf::default();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return held;
    };
    for fd in fds.flatten() {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let field = |key: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        let id = |key: &str| field(key).and_then(|v| v.parse::<u32>().ok());
        match target.to_string_lossy().as_ref() {
            "anon_inode:bpf-prog" => held.programs.extend(id("prog_id:")),
            "anon_inode:bpf-map" => held.maps.extend(id("map_id:")),
            "anon_inode:bpf_link" => {
                if let Some(link) = id("link_id:") {
                    held.links.push(HeldLink {
                        id: link,
                        kind: field("link_type:").unwrap_or_default(),
                        program: id("prog_id:").unwrap_or(0),
                    });
                }
            }
            _ => {}
        }
    }
    for ids in [&mut held.programs, &mut held.maps] {
        ids.sort_unstable();
        ids.dedup();
    }
    held.links.sort_by_key(|l| l.id);
    held.links.dedup_by_key(|l| l.id);
    held
}

/// Waits up to `timeout` for process `pid` to hold BPF objects that
/// satisfy `ready` (e.g. at least one link); returns them.
pub fn wait_held(
    pid: u32,
    timeout: std::time::Duration,
    ready: impl Fn(&HeldBpf) -> bool,
) -> HeldBpf {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let held = held_bpf(pid);
        if ready(&held) {
            return held;
        }
        if std::time::Instant::now() > deadline {
            panic!("process {pid} never held what was expected; it holds {held:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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

/// The name of the loaded program with this id; None once it is gone.
pub fn program_name(id: u32) -> Option<String> {
    info_name(
        id,
        libbpf_sys::bpf_prog_get_fd_by_id,
        libbpf_sys::bpf_prog_get_info_by_fd,
        |i: &libbpf_sys::bpf_prog_info| &i.name[..],
    )
}

/// True while a link with this id exists.
pub fn link_exists(id: u32) -> bool {
    // SAFETY: plain syscall wrapper; the fd is closed right away.
    unsafe {
        let fd = libbpf_sys::bpf_link_get_fd_by_id(id);
        if fd >= 0 {
            libc_close(fd);
        }
        fd >= 0
    }
}

/// Programs attached to `target` (an ifindex for tcx and XDP, a cgroup fd
/// for cgroup types) at `attach_type`, by `BPF_PROG_QUERY`; empty when the
/// query fails.
pub fn attached_programs(target: i32, attach_type: u32) -> Vec<u32> {
    let mut ids = [0u32; 64];
    // SAFETY: plain data; zeroed is "no options".
    let mut opts: libbpf_sys::bpf_prog_query_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_prog_query_opts>() as _;
    opts.prog_ids = ids.as_mut_ptr();
    opts.__bindgen_anon_1.prog_cnt = ids.len() as u32;
    // SAFETY: prog_ids has room for prog_cnt ids; the kernel writes back
    // how many it stored.
    let r = unsafe { libbpf_sys::bpf_prog_query_opts(target, attach_type, &mut opts) };
    if r < 0 {
        return Vec::new();
    }
    // SAFETY: the kernel stored the count in the union's prog_cnt.
    let n = unsafe { opts.__bindgen_anon_1.prog_cnt } as usize;
    ids[..n.min(ids.len())].to_vec()
}

/// The ifindex of an interface, 0 when there is none.
pub fn ifindex(name: &str) -> i32 {
    let Ok(c) = std::ffi::CString::new(name) else {
        return 0;
    };
    extern "C" {
        fn if_nametoindex(name: *const std::ffi::c_char) -> u32;
    }
    // SAFETY: a NUL-terminated name.
    i32::try_from(unsafe { if_nametoindex(c.as_ptr()) }).unwrap_or(0)
}

/// A "return 0" classifier named `foreign_cls`, attached as a netlink tc
/// filter by this process: someone else's filter, for tests that check
/// unibpf leaves it alone. Returns the program's id; the filter keeps the
/// program loaded until it is removed (or its interface goes).
pub fn attach_foreign_tc_filter(
    ifindex: i32,
    ingress: bool,
    handle: u32,
    priority: u32,
    replace: bool,
) -> Result<u32, i32> {
    let insns = [
        // mov r0, 0
        libbpf_sys::bpf_insn {
            code: (libbpf_sys::BPF_ALU64 | libbpf_sys::BPF_MOV | libbpf_sys::BPF_K) as u8,
            _bitfield_align_1: [],
            _bitfield_1: libbpf_sys::__BindgenBitfieldUnit::new([0]),
            off: 0,
            imm: 0,
        },
        // exit
        libbpf_sys::bpf_insn {
            code: (libbpf_sys::BPF_JMP | libbpf_sys::BPF_EXIT) as u8,
            _bitfield_align_1: [],
            _bitfield_1: libbpf_sys::__BindgenBitfieldUnit::new([0]),
            off: 0,
            imm: 0,
        },
    ];
    // SAFETY: plain libbpf calls on initialised option structs; insns
    // outlive the load; the program fd is closed before returning.
    unsafe {
        let prog = libbpf_sys::bpf_prog_load(
            libbpf_sys::BPF_PROG_TYPE_SCHED_CLS,
            c"foreign_cls".as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            std::ptr::null_mut(),
        );
        if prog < 0 {
            return Err(prog);
        }
        let hook = libbpf_sys::bpf_tc_hook {
            sz: std::mem::size_of::<libbpf_sys::bpf_tc_hook>() as _,
            ifindex,
            attach_point: if ingress {
                libbpf_sys::BPF_TC_INGRESS
            } else {
                libbpf_sys::BPF_TC_EGRESS
            },
            ..Default::default()
        };
        let mut opts = libbpf_sys::bpf_tc_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_tc_opts>() as _,
            prog_fd: prog,
            handle,
            priority,
            flags: if replace {
                libbpf_sys::BPF_TC_F_REPLACE
            } else {
                0
            },
            ..Default::default()
        };
        let r = libbpf_sys::bpf_tc_attach(&hook, &mut opts);
        libc_close(prog);
        if r < 0 {
            Err(r)
        } else {
            Ok(opts.prog_id)
        }
    }
}

/// Programs on the tcx hook of `ifindex` (ingress or egress).
pub fn tcx_programs(ifindex: i32, ingress: bool) -> Vec<u32> {
    let attach_type = if ingress {
        libbpf_sys::BPF_TCX_INGRESS
    } else {
        libbpf_sys::BPF_TCX_EGRESS
    };
    attached_programs(ifindex, attach_type)
}

/// Programs attached to the cgroup directory `path` as sock_ops.
pub fn cgroup_sockops_programs(path: &std::path::Path) -> Vec<u32> {
    let Ok(dir) = std::fs::File::open(path) else {
        return Vec::new();
    };
    use std::os::fd::AsRawFd;
    attached_programs(dir.as_raw_fd(), libbpf_sys::BPF_CGROUP_SOCK_OPS)
}
