//! Detection on real directories. No bpftime is installed here, and none is
//! imitated: these are missing, incomplete and wrong installs.

use super::*;

fn libraries() -> [Part; 3] {
    [Part::SyscallServer, Part::Agent, Part::AgentTransformer]
}

/// A 64-byte ELF64 little-endian header of type `e_type` for `machine`.
fn elf_header(e_type: u16, machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // ELFCLASS64
    h[5] = 1; // little-endian
    h[6] = 1; // EV_CURRENT
    h[16..18].copy_from_slice(&e_type.to_le_bytes());
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h
}

#[test]
fn a_missing_directory_is_not_installed_and_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nothing-here");
    let install = Install::inspect(dir.clone(), Source::Env);
    assert!(!install.dir_exists);
    assert!(install.parts.iter().all(|(_, s)| *s == FileState::Missing));
    let err = install.require(&[Part::SyscallServer]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "bpftime is not installed (looked in {}, from BPFTIME_DIR; set BPFTIME_DIR to its install directory)",
            dir.display()
        )
    );
    assert_eq!(
        install.to_string(),
        format!(
            "not installed (looked in {}, from BPFTIME_DIR; set BPFTIME_DIR)",
            dir.display()
        )
    );
}

#[test]
fn home_is_the_default_and_bpftime_dir_wins() {
    let home = tempfile::tempdir().unwrap();
    let found = Install::detect_from(None, Some(home.path().into())).unwrap();
    assert_eq!(found.dir, home.path().join(".bpftime"));
    assert_eq!(found.source, Source::Home);
    let found =
        Install::detect_from(Some("/opt/bpftime".into()), Some(home.path().into())).unwrap();
    assert_eq!(found.dir, PathBuf::from("/opt/bpftime"));
    assert_eq!(found.source, Source::Env);
    // An empty BPFTIME_DIR counts as unset.
    let found = Install::detect_from(Some("".into()), Some(home.path().into())).unwrap();
    assert_eq!(found.source, Source::Home);
    assert!(matches!(
        Install::detect_from(None, None),
        Err(BpftimeError::NoLocation)
    ));
}

#[test]
fn an_empty_directory_lists_every_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let install = Install::inspect(tmp.path().into(), Source::Env);
    assert!(install.dir_exists);
    let err = install.require(&Part::ALL).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "bpftime in {} is incomplete: bpftime, libbpftime-syscall-server.so, libbpftime-agent.so, \
             libbpftime-agent-transformer.so missing (reinstall it, or set BPFTIME_DIR to a complete install)",
            tmp.path().display()
        )
    );
    // Only what is asked for is required.
    let err = install.require(&[Part::Agent]).unwrap_err();
    assert!(
        err.to_string().contains(": libbpftime-agent.so missing"),
        "{err}"
    );
    assert_eq!(
        install.to_string(),
        format!(
            "{}: bpftime missing, libbpftime-syscall-server.so missing, libbpftime-agent.so missing, \
             libbpftime-agent-transformer.so missing",
            tmp.path().display()
        )
    );
}

#[test]
fn a_file_that_is_not_elf_is_not_an_elf_shared_object() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("libbpftime-syscall-server.so"),
        "#!/bin/sh\n",
    )
    .unwrap();
    let install = Install::inspect(tmp.path().into(), Source::Env);
    assert_eq!(
        *install.state(Part::SyscallServer),
        FileState::Bad("not an ELF shared object".into())
    );
    let err = install
        .require(&[Part::SyscallServer, Part::Agent])
        .unwrap_err();
    // A bad file is named before missing ones: it is the surprising one.
    assert_eq!(
        err.to_string(),
        format!(
            "bpftime in {}: libbpftime-syscall-server.so: not an ELF shared object \
             (reinstall it, or set BPFTIME_DIR to a complete install)",
            tmp.path().display()
        )
    );
}

#[test]
fn elf_files_must_be_shared_objects_for_this_machine() {
    use goblin::elf::header::{EM_AARCH64, EM_X86_64, ET_DYN, ET_EXEC};
    let tmp = tempfile::tempdir().unwrap();
    let host = host_machine().expect("a known architecture");
    let other = if host == EM_X86_64 {
        EM_AARCH64
    } else {
        EM_X86_64
    };
    let dir = tmp.path();
    std::fs::write(dir.join("libbpftime-agent.so"), elf_header(ET_EXEC, host)).unwrap();
    std::fs::write(
        dir.join("libbpftime-agent-transformer.so"),
        elf_header(ET_DYN, other),
    )
    .unwrap();
    std::fs::create_dir(dir.join("libbpftime-syscall-server.so")).unwrap();
    let install = Install::inspect(dir.into(), Source::Env);
    assert_eq!(
        *install.state(Part::Agent),
        FileState::Bad("not an ELF shared object".into())
    );
    let FileState::Bad(why) = install.state(Part::AgentTransformer) else {
        panic!("{:?}", install.state(Part::AgentTransformer));
    };
    assert!(
        why.starts_with("built for ")
            && why.ends_with(&format!(", not {}", std::env::consts::ARCH)),
        "{why}"
    );
    assert_eq!(
        *install.state(Part::SyscallServer),
        FileState::Bad("not a regular file".into())
    );
    for part in libraries() {
        assert!(install.require(&[part]).is_err());
    }
}

#[test]
fn a_cli_that_is_not_executable_is_bad_and_has_no_version() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let cli = tmp.path().join("bpftime");
    std::fs::write(&cli, "").unwrap();
    std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o644)).unwrap();
    let install = Install::inspect(tmp.path().into(), Source::Env);
    assert_eq!(
        *install.state(Part::Cli),
        FileState::Bad("not executable".into())
    );
    assert_eq!(install.version(), None);
}

#[test]
fn the_elf_check_accepts_a_real_shared_object_of_this_machine() {
    // The C library this test runs on: a real shared object, checked as
    // the installed libraries are (not posing as bpftime).
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let Some(libc) = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so") || p.contains("/libc-"))
    else {
        eprintln!("no shared C library mapped (static build); nothing to check");
        return;
    };
    assert_eq!(
        shared_object_machine(Path::new(libc)),
        Ok(host_machine().unwrap())
    );
}

#[test]
fn first_line_of_reports_what_a_command_prints_and_gives_up_on_a_slow_one() {
    let line = first_line_of(
        Command::new("/bin/sh").args(["-c", "echo; echo '  v1.2 \x1b' ; echo more"]),
        Duration::from_secs(5),
    );
    assert_eq!(line.as_deref(), Some("v1.2 \\u{1b}"));
    let start = Instant::now();
    assert_eq!(
        first_line_of(
            Command::new("/bin/sleep").arg("30"),
            Duration::from_millis(200)
        ),
        None
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}
