//! Tests' BPF objects from small C sources: `clang -O2 -target bpf -c`
//! with the flags a test adds. For tests only: a failure panics with what
//! clang said (scripts/install-deps.sh installs clang).

use std::path::Path;
use std::process::Command;

/// Compiles `source` to the object file `out`.
pub fn compile_to(source: &str, flags: &[&str], out: &Path) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = dir.path().join("source.bpf.c");
    std::fs::write(&src, source).expect("writing the C source");
    let built = Command::new("clang")
        .args(["-O2", "-target", "bpf", "-c"])
        .args(flags)
        .arg(&src)
        .arg("-o")
        .arg(out)
        .output()
        .expect("running clang (scripts/install-deps.sh installs it)");
    assert!(
        built.status.success(),
        "clang failed on\n{source}\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// The object `source` compiles to.
pub fn compile(source: &str, flags: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("object.bpf.o");
    compile_to(source, flags, &out);
    std::fs::read(&out).expect("reading the object clang wrote")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_becomes_a_bpf_elf() {
        let elf = compile(
            r#"__attribute__((section("xdp"), used)) int p(void *c) { return 2; }"#,
            &["-g"],
        );
        assert_eq!(&elf[..4], b"\x7fELF");
        // e_machine EM_BPF (247), little endian.
        assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 247);
    }

    #[test]
    #[should_panic(expected = "clang failed")]
    fn bad_c_says_so() {
        compile("this is not C", &[]);
    }
}
