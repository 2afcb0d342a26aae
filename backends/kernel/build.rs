//! Compiles libbpf's log callback (csrc/libbpf_log.c): it receives a
//! `va_list`, which stable Rust cannot take apart.
fn main() {
    println!("cargo:rerun-if-changed=csrc/libbpf_log.c");
    cc::Build::new()
        .file("csrc/libbpf_log.c")
        .warnings(true)
        .compile("unibpf_libbpf_log");
}
