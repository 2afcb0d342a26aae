//! A clang-built XDP object through the backend interface, attached to
//! the loopback interface: it counts the datagrams it receives, and
//! dropping the object closes its packet socket and ends its thread.
//! Needs clang and CAP_NET_RAW; without either it says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use unibpf_backend::{AttachTarget, Backend, BpfObject, LoadPlan, LoadRequest, LoadedObject};
use unibpf_backend_userspace::{ProcessHooks, UserspaceBackend};

fn compile(name: &str) -> Option<Vec<u8>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/progs/{name}.bpf.c"));
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.bpf.o"));
    let built = match Command::new("clang")
        .args(["-g", "-O2", "-target", "bpf", "-Wall", "-Werror", "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .output()
    {
        Ok(b) => b,
        Err(_) => {
            eprintln!("skipped: clang is not installed");
            return None;
        }
    };
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    Some(std::fs::read(&out).expect("clang's output"))
}

/// Inodes of the packet sockets this process holds open.
fn my_packet_sockets() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/net/packet").unwrap_or_default();
    let packet_inodes: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            let inode = l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string();
            packet_inodes.contains(&inode.as_str()).then_some(inode)
        })
        .collect()
}

fn packet_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("unibpf-pkt-"))
        .count()
}

fn frames_counted(object: &mut Box<dyn LoadedObject>) -> u64 {
    let map = object.map_by_name("frames").expect("the frames map");
    let mut value = [0u8; 8];
    map.ops
        .lookup(&0u32.to_le_bytes(), &mut value, 0)
        .expect("lookup");
    u64::from_le_bytes(value)
}

/// The xdp_count object loaded into a userspace backend; None without
/// clang.
fn load_xdp_count() -> Option<Box<dyn unibpf_backend::LoadedObject>> {
    let elf = compile("xdp_count")?;
    let object = BpfObject::parse(&elf).expect("the object parses");
    let mut backend = UserspaceBackend::new(Arc::new(ProcessHooks::new(None)));
    Some(
        backend
            .load_object(&LoadRequest {
                elf: &elf,
                object: &object,
                plan: &LoadPlan::default(),
            })
            .expect("the object loads"),
    )
}

#[test]
fn xdp_on_loopback_counts_datagrams_and_detaching_closes_everything() {
    let Some(mut loaded) = load_xdp_count() else {
        return;
    };
    if let Err(e) = loaded.attach("count", AttachTarget::Named("lo")) {
        assert!(e.to_string().contains("needs CAP_NET_RAW"), "{e}");
        eprintln!("skipped: {e}");
        return;
    }
    // The thread names itself as it starts.
    let deadline = Instant::now() + Duration::from_secs(5);
    while packet_threads() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!((packet_threads(), my_packet_sockets().len()), (1, 1));

    let rx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for _ in 0..3 {
        tx.send_to(b"x", rx.local_addr().unwrap()).expect("send");
    }
    // Other loopback traffic may add to the count; never less than ours.
    // The program's DROP is observed only: the datagrams arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    while frames_counted(&mut loaded) < 3 {
        assert!(Instant::now() < deadline, "the datagrams were not counted");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut buf = [0u8; 4];
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(rx.recv(&mut buf).expect("a datagram XDP 'dropped'"), 1);

    drop(loaded);
    assert_eq!((packet_threads(), my_packet_sockets()), (0, vec![]));
}

#[test]
fn attaching_needs_an_interface_that_exists() {
    let Some(mut loaded) = load_xdp_count() else {
        return;
    };
    let e = loaded
        .attach("count", AttachTarget::Named("nosuchif0"))
        .expect_err("no such interface");
    assert_eq!(e.errno(), unibpf_backend::Errno::ENODEV);
    assert_eq!(
        e.to_string(),
        "program count: no network interface named \"nosuchif0\""
    );
    let e = loaded
        .attach("count", AttachTarget::Auto)
        .expect_err("no interface named");
    assert_eq!(e.errno(), unibpf_backend::Errno::EINVAL);
}
