//! Verification on real BTF: this kernel's passes, damaged or foreign BTF is
//! refused with a reason, and nothing panics on damaged bytes.

mod common;

use common::*;
use unibpf_btf::verify::{check_format, verify, Against, KernelCheck, KernelSymbols};
use unibpf_btf::{BtfArch, KernelId, VerifyError};

fn symbols() -> KernelSymbols {
    KernelSymbols::read(std::path::Path::new("/proc/kallsyms")).expect("read /proc/kallsyms")
}

#[test]
fn this_kernels_btf_passes() {
    let s = symbols();
    let v = verify(vmlinux().to_vec(), &this_kernel(), Against::Symbols(&s)).unwrap();
    assert!(matches!(
        v.summary().this_kernel,
        KernelCheck::Matched { .. }
    ));
    assert_eq!(v.bytes(), vmlinux());
}

#[test]
fn another_architectures_btf_is_refused() {
    let k = this_kernel();
    let arch = match k.arch {
        BtfArch::X86_64 => BtfArch::Arm64,
        _ => BtfArch::X86_64,
    };
    let other = KernelId::new(&k.distro_id, &k.version_id, arch, &k.release).unwrap();
    let e = verify(vmlinux().to_vec(), &other, Against::Nothing("test".into())).unwrap_err();
    assert!(matches!(e, VerifyError::WrongArch { .. }), "{e}");
}

#[test]
fn damaged_btf_is_refused_without_a_panic() {
    let btf = vmlinux();
    let s = symbols();
    // Cut anywhere: inside the header, the types, the strings.
    for cut in (0..40)
        .map(|i| i * 7)
        .chain((1..40).map(|i| btf.len() * i / 40))
    {
        let e = verify(btf[..cut].to_vec(), &this_kernel(), Against::Symbols(&s));
        assert!(e.is_err(), "cut at {cut} passed");
    }
    // Every header field set to hostile values.
    for field in (4..24).step_by(4) {
        for value in [0u32, 1, 0x7fff_ffff, u32::MAX] {
            let mut b = btf.to_vec();
            b[field..field + 4].copy_from_slice(&value.to_le_bytes());
            let _ = check_format(&b);
        }
    }
}
