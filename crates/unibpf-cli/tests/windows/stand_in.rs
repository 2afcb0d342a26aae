//! The Windows backend's FFI under wine, against the recording stand-in
//! ebpfapi.dll (scripts/wine/ebpfapi/ebpfapi.c): a test double of eBPF
//! for Windows, which cannot run here. Each test reads the stand-in's
//! record of the calls unibpf.exe made and their arguments; ring buffer
//! records are fed to it from a file, and the guest prints them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{built, common::guest, program, text, wine_with};

/// FNV-1a, 64 bits: the digest the stand-in records of what it opens.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One run under the stand-in: its output, and the calls it recorded
/// (the DLL's unload lines aside: unibpf also loads it once to see that
/// it is there).
struct Run {
    out: Output,
    calls: Vec<String>,
    unloads: usize,
}

impl Run {
    fn stderr(&self) -> String {
        text(&self.out.stderr)
    }

    fn stdout(&self) -> String {
        text(&self.out.stdout)
    }

    /// Whether `calls` holds lines starting with each of `expected`, in
    /// that order (other calls may come between).
    fn assert_in_order(&self, expected: &[&str]) {
        let mut at = 0;
        for want in expected {
            match self.calls[at..].iter().position(|c| c.starts_with(want)) {
                Some(i) => at += i + 1,
                None => panic!(
                    "no {want:?} after call {at}; calls:\n{}",
                    self.calls.join("\n")
                ),
            }
        }
    }

    fn count(&self, prefix: &str) -> usize {
        self.calls.iter().filter(|c| c.starts_with(prefix)).count()
    }

    /// Everything undone: no leak line, every duplicated fd closed, the
    /// object closed, and the DLL unloaded at the end.
    fn assert_clean(&self) {
        let leaks: Vec<&String> = self
            .calls
            .iter()
            .filter(|c| c.starts_with("leak"))
            .collect();
        assert!(leaks.is_empty(), "{leaks:?}\n{}", self.calls.join("\n"));
        let dups: Vec<String> = self
            .calls
            .iter()
            .filter_map(|c| c.strip_prefix("ebpf_duplicate_fd "))
            .filter_map(|c| c.split_once(" dup=").map(|(_, d)| d.to_string()))
            .collect();
        assert!(
            !dups.is_empty(),
            "no map fd was duplicated:\n{}",
            self.calls.join("\n")
        );
        for d in &dups {
            assert_eq!(self.count(&format!("ebpf_close_fd fd={d}")), 1, "fd {d}");
        }
        assert_eq!(
            self.count("bpf_object__open_mem"),
            self.count("bpf_object__close")
        );
        assert!(self.unloads >= 1, "the DLL was never unloaded");
    }
}

/// `unibpf.exe ARGS` with the stand-in, fed `ring` records (each one
/// record's bytes); None when skipped.
fn run(args: &[&str], ring: &[Vec<u8>]) -> Option<Run> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (record, records) = (dir.path().join("record"), dir.path().join("ring"));
    let hex: Vec<String> = ring
        .iter()
        .map(|r| r.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    std::fs::write(&records, hex.join("\n") + "\n").expect("ring records");
    let env = unibpf_matrix::wine::stand_in_env(&record, &records);
    let out = wine_with(args, Some(&env))?;
    let all = std::fs::read_to_string(&record).unwrap_or_default();
    let (unloads, calls): (Vec<String>, Vec<String>) = all
        .lines()
        .map(str::to_string)
        .partition(|l| l.starts_with("unload ("));
    Some(Run {
        out,
        calls,
        unloads: unloads.len(),
    })
}

/// A sockops `struct established` record.
fn established(active: u32, local: u32, remote: u32) -> Vec<u8> {
    [active, local, remote]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn sockops_loads_its_windows_variant_attaches_to_a_compartment_and_cleans_up() {
    if let Err(why) = built() {
        return eprintln!("skipped: {why}");
    }
    let wasm = program("sockops.wasm");
    let variant = std::fs::read(program("windows/sockops.windows.bpf.o")).expect("variant");
    let linux = std::fs::read(program("sockops.bpf.o")).expect("linux object");
    assert_ne!(fnv1a64(&variant), fnv1a64(&linux));
    let ring = [
        established(1, 50000, 443),
        established(0, 8080, 51000),
        established(1, 1234, 80),
    ];
    let run = run(
        &["run", "--explain", "--timeout", "3s", path_str(&wasm), "1"],
        &ring,
    )
    .expect("built");
    let stderr = run.stderr();
    assert_eq!(run.out.status.code(), Some(0), "{stderr}");
    // The guest printed the records the stand-in delivered, in order, then
    // read its counters map (three lookups of zeroed array slots).
    assert_eq!(
        run.stdout().lines().collect::<Vec<_>>(),
        [
            "ESTABLISHED side=active lport=50000 rport=443",
            "ESTABLISHED side=passive lport=8080 rport=51000",
            "ESTABLISHED side=active lport=1234 rport=80",
            "OPTIONS written=0 seen=0 intact=0",
        ],
        "{stderr}"
    );
    let key = unibpf_variants_key(&linux);
    let explain = format!(
        "unibpf: explain: windows: the BPF object with programs tcp_option swapped for its windows variant sockops.windows.bpf.o ({} bytes, BPF ELF, key {key})",
        variant.len()
    );
    assert!(stderr.lines().any(|l| l == explain), "{stderr}");
    run.assert_in_order(&[
        // The Windows variant's bytes, not the Linux object's.
        &format!(
            "bpf_object__open_mem size={} fnv1a64={:016x} opts=null",
            variant.len(),
            fnv1a64(&variant)
        ),
        "ebpf_object_set_execution_type type=0",
        // The stand-in read the maps' types and sizes from the variant's
        // BTF: efW's numbers (ring buffer 13, array 2).
        "bpf_object__load programs=tcp_option:sockops maps=connections:type=13,key=0,value=0,max=65536,counters:type=2,key=4,value=8,max=3",
        // A numeric target is a compartment: efW's BPF_CGROUP_SOCK_OPS is 7.
        "bpf_prog_attach fd=",
        "ring_buffer__new fd=",
        "ring_buffer__poll record=0 size=12 callback=0",
        "ring_buffer__poll record=1 size=12 callback=0",
        "ring_buffer__poll record=2 size=12 callback=0",
        "bpf_map_lookup_elem fd=",
        "ring_buffer__free map=connections",
        "bpf_prog_detach2 fd=",
        "bpf_object__close programs=1 maps=2",
    ]);
    let attach = run
        .calls
        .iter()
        .find(|c| c.starts_with("bpf_prog_attach"))
        .unwrap();
    assert!(attach.ends_with(" target=1 type=7 flags=0"), "{attach}");
    let detach = run
        .calls
        .iter()
        .find(|c| c.starts_with("bpf_prog_detach2"))
        .unwrap();
    assert_eq!(
        detach.trim_start_matches("bpf_prog_detach2 "),
        attach
            .trim_start_matches("bpf_prog_attach ")
            .trim_end_matches(" flags=0")
    );
    for k in ["00000000", "01000000", "02000000"] {
        assert!(
            run.calls
                .iter()
                .any(|c| c.starts_with("bpf_map_lookup_elem")
                    && c.ends_with(&format!("map=counters key={k} value=0000000000000000 -> 0"))),
            "{}",
            run.calls.join("\n")
        );
    }
    assert_eq!(run.count("bpf_program__attach"), 0);
    run.assert_clean();
}

/// The key variants are stored under: the Linux object's SHA-256.
fn unibpf_variants_key(linux: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(linux)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn sockops_without_a_target_attaches_by_itself_and_a_cgroup_path_is_refused() {
    if let Err(why) = built() {
        return eprintln!("skipped: {why}");
    }
    let wasm = program("sockops.wasm");
    let run_auto = run(&["run", "--timeout", "2s", path_str(&wasm), ""], &[]).expect("built");
    assert_eq!(run_auto.out.status.code(), Some(0), "{}", run_auto.stderr());
    assert_eq!(run_auto.stdout(), "OPTIONS written=0 seen=0 intact=0\n");
    run_auto.assert_in_order(&[
        "bpf_object__load programs=tcp_option:sockops",
        "bpf_program__attach program=tcp_option section=sockops",
        "ring_buffer__new fd=",
        "ring_buffer__free map=connections",
        "bpf_link__destroy program=tcp_option",
        "bpf_object__close programs=1 maps=2",
    ]);
    assert_eq!(run_auto.count("bpf_prog_attach"), 0);
    run_auto.assert_clean();

    // eBPF for Windows has no cgroups: a path is refused before any call.
    let refused = run(
        &["run", "--timeout", "2s", path_str(&wasm), "/sys/fs/cgroup"],
        &[],
    )
    .expect("built");
    let stderr = refused.stderr();
    assert_eq!(refused.out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sockops: attach to /sys/fs/cgroup failed: Invalid argument"),
        "{stderr}"
    );
    assert_eq!(
        unibpf_lines(&stderr),
        ["unibpf: error: program tcp_option: eBPF for Windows attaches sock_ops programs to a network compartment: the target must be a compartment id (a number, 1 for the default compartment), not \"/sys/fs/cgroup\""],
        "{stderr}"
    );
    assert_eq!(refused.count("bpf_prog_attach"), 0);
    assert_eq!(refused.count("bpf_program__attach"), 0);
    refused.assert_in_order(&["bpf_object__load", "bpf_object__close"]);
    assert!(
        refused.calls.iter().all(|c| !c.starts_with("leak")),
        "{:?}",
        refused.calls
    );
}

/// A Windows variant of the test guests' exec object (program
/// unibpf_t_exec, ring buffer unibpf_t_rb) for efW's bind hook.
fn exec_variant(dir: &Path) -> PathBuf {
    let obj = dir.join("exec.windows.bpf.o");
    unibpf_test_clang::compile_to(
        r#"#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int(*name)[val]
struct { __uint(type, 13); __uint(max_entries, 65536); } unibpf_t_rb SEC(".maps");
SEC("bind") int unibpf_t_exec(void *ctx) { return 0; }
"#,
        &["-g"],
        &obj,
    );
    obj
}

/// `unibpf bundle` of the Linux build.
fn bundle(wasm: &Path, variant: &Path, out: &Path) {
    let done = Command::new(env!("CARGO_BIN_EXE_unibpf"))
        .arg("bundle")
        .arg(wasm)
        .args(["--platform", "windows"])
        .arg(variant)
        .arg("-o")
        .arg(out)
        .output()
        .expect("unibpf bundle");
    assert!(done.status.success(), "{}", text(&done.stderr));
}

/// An exec event as the guest reads it: pid, tgid, comm[16], filename[128].
fn exec_event(tgid: u32, comm: &str, file: &str) -> Vec<u8> {
    let mut e = vec![0u8; 152];
    e[0..4].copy_from_slice(&tgid.to_le_bytes());
    e[4..8].copy_from_slice(&tgid.to_le_bytes());
    e[8..8 + comm.len()].copy_from_slice(comm.as_bytes());
    e[24..24 + file.len()].copy_from_slice(file.as_bytes());
    e
}

#[test]
fn a_guest_ignoring_the_stop_is_force_stopped_and_everything_is_undone() {
    if let Err(why) = built() {
        return eprintln!("skipped: {why}");
    }
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("execsnoop.wasm");
    bundle(&guest("execsnoop.wasm"), &exec_variant(dir.path()), &wasm);
    let ring = [
        exec_event(42, "true", "/bin/true"),
        exec_event(43, "ls", "/bin/ls"),
    ];
    let run = run(
        &[
            "run",
            "--timeout",
            "2s",
            "--grace",
            "500ms",
            path_str(&wasm),
            "--ignore-eintr",
        ],
        &ring,
    )
    .expect("built");
    let stderr = run.stderr();
    assert_eq!(run.out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("force-stopped"), "{stderr}");
    assert!(!stderr.contains("execsnoop: stopped"), "{stderr}");
    assert_eq!(
        run.stdout().lines().collect::<Vec<_>>(),
        [
            "exec pid=42 comm=true file=/bin/true",
            "exec pid=43 comm=ls file=/bin/ls"
        ],
        "{stderr}"
    );
    run.assert_in_order(&[
        "bpf_object__load programs=unibpf_t_exec:bind maps=unibpf_t_rb:type=13,key=0,value=0,max=65536",
        "bpf_program__attach program=unibpf_t_exec section=bind",
        "ring_buffer__new fd=",
        "ring_buffer__poll record=1 size=152 callback=0",
        "ring_buffer__free map=unibpf_t_rb",
        "bpf_link__destroy program=unibpf_t_exec",
        "bpf_object__close programs=1 maps=1",
    ]);
    run.assert_clean();
}

/// The one line of unibpf's own on stderr.
fn unibpf_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("unibpf")).collect()
}

#[test]
fn without_a_variant_or_with_a_bad_one_the_load_fails_in_one_line() {
    if let Err(why) = built() {
        return eprintln!("skipped: {why}");
    }
    // bootstrap.wasm carries no Windows variant.
    let wasm = program("bootstrap.wasm");
    let none = run(&["run", path_str(&wasm)], &[]).expect("built");
    let stderr = none.stderr();
    assert_eq!(none.out.status.code(), Some(1), "{stderr}");
    let lines = unibpf_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("unibpf: error: the BPF object with programs handle_exec, handle_exit (key ")
            && lines[0].ends_with(") has no windows variant, and eBPF for Windows cannot load a Linux object: build one for eBPF for Windows and add it with `unibpf bundle APP.wasm --platform windows LINUX.bpf.o=VARIANT.o -o OUT.wasm`"),
        "{stderr}"
    );
    assert_eq!(none.count("bpf_object__open"), 0, "{:?}", none.calls);

    // A variant that lacks what the guest names (sockops' for execsnoop).
    let dir = tempfile::tempdir().unwrap();
    let mismatched = dir.path().join("mismatched.wasm");
    bundle(
        &guest("execsnoop.wasm"),
        &program("windows/sockops.windows.bpf.o"),
        &mismatched,
    );
    let bad = run(&["run", path_str(&mismatched)], &[]).expect("built");
    let stderr = bad.stderr();
    let lines = unibpf_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("unibpf: error: the windows variant sockops.windows.bpf.o of the BPF object with programs unibpf_t_exec (key ")
            && lines[0].ends_with("): it lacks program unibpf_t_exec and map unibpf_t_rb of the Linux object, which the guest names; bundle a matching one with `unibpf bundle`"),
        "{stderr}"
    );
    assert_eq!(bad.count("bpf_object__open"), 0);

    // A corrupt section: bytes of sockops.wasm's variants flipped.
    let mut bytes = std::fs::read(program("sockops.wasm")).unwrap();
    let at = bytes
        .windows(15)
        .position(|w| w == b"unibpf.variants")
        .expect("sockops.wasm carries variants")
        + 15;
    for b in &mut bytes[at + 8..at + 40] {
        *b ^= 0x5a;
    }
    let corrupt = dir.path().join("corrupt.wasm");
    std::fs::write(&corrupt, bytes).unwrap();
    let bad = run(&["run", path_str(&corrupt), "1"], &[]).expect("built");
    let stderr = bad.stderr();
    let lines = unibpf_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("unibpf: error: the module's unibpf.variants section is corrupt (")
            && lines[0].ends_with("): bundle the variants again with `unibpf bundle`"),
        "{stderr}"
    );
    assert_eq!(bad.count("bpf_object__open"), 0);
}

#[test]
fn a_native_variant_is_opened_from_a_file_that_is_removed_after() {
    let (dir, _) = match built() {
        Ok(b) => b,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    // Any PE image passes for a native .sys with the stand-in, which
    // neither runs nor reads it: bcryptprimitives.dll will do.
    let tmp = tempfile::tempdir().unwrap();
    let sys = tmp.path().join("sockops.sys");
    std::fs::copy(dir.join("wine-dlls/bcryptprimitives.dll"), &sys).unwrap();
    let wasm = tmp.path().join("sockops-native.wasm");
    let linux = program("sockops.bpf.o");
    let pair = format!("{}={}", path_str(&linux), path_str(&sys));
    let done = Command::new(env!("CARGO_BIN_EXE_unibpf"))
        .arg("bundle")
        .arg(program("sockops.wasm"))
        .args(["--platform", "windows", &pair, "-o"])
        .arg(&wasm)
        .output()
        .expect("unibpf bundle");
    assert!(done.status.success(), "{}", text(&done.stderr));
    let run = run(
        &["run", "--explain", "--timeout", "2s", path_str(&wasm), "1"],
        &[],
    )
    .expect("built");
    let stderr = run.stderr();
    assert!(
        stderr.contains("swapped for its windows variant sockops.sys ("),
        "{stderr}"
    );
    assert!(stderr.contains(", native image, key "), "{stderr}");
    // Opened by path (efW loads drivers from files), not from memory,
    // and no execution type is set for it.
    assert_eq!(run.count("bpf_object__open_mem"), 0, "{:?}", run.calls);
    assert_eq!(run.count("ebpf_object_set_execution_type"), 0);
    let open = run
        .calls
        .iter()
        .find_map(|c| c.strip_prefix("bpf_object__open path="))
        .expect("bpf_object__open");
    assert!(open.ends_with(".sys"), "{open}");
    run.assert_in_order(&[
        "bpf_object__open path=",
        "bpf_object__load",
        "bpf_object__close",
    ]);
    // The stand-in's native object has no programs: the guest cannot
    // find tcp_option, and says so.
    assert_eq!(run.out.status.code(), Some(1), "{stderr}");
    // The temporary image is gone: its folder (in the wine prefix's C:
    // drive, or Z:, which is /) is there, the file not.
    let unix = match open.strip_prefix("C:") {
        Some(rest) => dir
            .join("wineprefix/drive_c")
            .join(rest.trim_start_matches('\\').replace('\\', "/")),
        None => PathBuf::from(open.strip_prefix("Z:").unwrap_or(open).replace('\\', "/")),
    };
    let folder = unix.parent().expect("a folder");
    let folder_found = std::fs::read_dir(folder).is_ok()
        || std::fs::read_dir(folder.to_string_lossy().to_lowercase()).is_ok();
    assert!(folder_found, "{} is not where {open} is", folder.display());
    assert!(!unix.exists(), "{} is left behind", unix.display());
}

#[test]
fn the_guests_map_operations_reach_ebpf_for_windows_and_its_errors_come_back() {
    if let Err(why) = built() {
        return eprintln!("skipped: {why}");
    }
    // tests/guests/maps.c on a Windows variant of its object: a hash map
    // and a per-CPU array with efW's type numbers (1 and 5).
    let tmp = tempfile::tempdir().unwrap();
    let obj = tmp.path().join("maps.o");
    unibpf_test_clang::compile_to(
        r#"#define SEC(n) __attribute__((section(n), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) __typeof__(val) *name
struct { __uint(type, 1); __uint(max_entries, 64); __type(key, unsigned int); __type(value, unsigned long long); } t_hash SEC(".maps");
struct { __uint(type, 5); __uint(max_entries, 4); __type(key, unsigned int); __type(value, unsigned long long); } t_pcpu SEC(".maps");
SEC("bind") int unibpf_t_noop(void *ctx) { return 0; }
"#,
        &["-g"],
        &obj,
    );
    let wasm = tmp.path().join("maps.wasm");
    bundle(&guest("maps.wasm"), &obj, &wasm);
    // Two CPUs: what the stand-in's libbpf_num_possible_cpus says.
    let run = run(&["run", path_str(&wasm), "2"], &[]).expect("built");
    let stderr = run.stderr();
    assert_eq!(run.out.status.code(), Some(0), "{stderr}");
    // The guest's errnos are WASI's (ENOENT 44, EEXIST 20, EBADF 8), as
    // from the kernel backend: efW's CRT errnos went through Linux's.
    assert_eq!(
        run.stdout().lines().collect::<Vec<_>>(),
        [
            "load_unaligned=1",
            "fd_ok=1",
            "fd_cached=1",
            "missing_map=-44",
            "lookup_3=0,300",
            "update_noexist=-20",
            "delete_3=0",
            "lookup_deleted=-44",
            "delete_missing=-44",
            "iterate=4,12,1200,end=-44",
            "pcpu_update=0",
            "pcpu_lookup=0,2001",
            "bad_fd=-8",
            "close=0",
            "after_close=-8",
        ],
        "{stderr}"
    );
    let on = |call: &str| {
        run.calls
            .iter()
            .filter(|c| c.starts_with(call))
            .map(|c| c.split_once(" map=").map_or(c.as_str(), |(_, rest)| rest))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        on("bpf_map_update_elem"),
        [
            "t_hash key=01000000 value=6400000000000000 flags=0 -> 0",
            "t_hash key=02000000 value=c800000000000000 flags=0 -> 0",
            "t_hash key=03000000 value=2c01000000000000 flags=0 -> 0",
            "t_hash key=04000000 value=9001000000000000 flags=0 -> 0",
            "t_hash key=05000000 value=f401000000000000 flags=0 -> 0",
            // BPF_NOEXIST on a key that exists: the CRT's -EEXIST.
            "t_hash key=03000000 value=2c01000000000000 flags=1 -> -17",
            // One 8-byte slot per CPU: 1000 and 1001.
            "t_pcpu key=02000000 value=e803000000000000e903000000000000 flags=0 -> 0",
        ]
    );
    assert_eq!(
        on("bpf_map_delete_elem"),
        ["t_hash key=03000000 -> 0", "t_hash key=03000000 -> -2"]
    );
    assert_eq!(run.count("bpf_map_get_next_key"), 5);
    assert!(run.calls.iter().any(
        |c| c.ends_with("map=t_pcpu key=02000000 value=e803000000000000e903000000000000 -> 0")
    ));
    // Both objects (the second loaded from an unaligned copy) closed.
    assert_eq!(run.count("bpf_object__close"), 2);
    run.assert_clean();
}
