//! Builds the XDP program (`ebpf/xlns.bpf.c`) with clang for the BPF
//! target, and the ABI probe (`ebpf/abi_probe.c`) for the host, whose
//! output the `loader::abi` test compares with the Rust constants.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let ebpf = manifest.join("../ebpf");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    for f in ["xlns.bpf.c", "xlns.h", "abi_probe.c"] {
        println!("cargo:rerun-if-changed={}", ebpf.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    // Debian keeps <asm/types.h> under the multiarch directory, which
    // clang does not search for `-target bpf`.
    let multiarch = format!("-I/usr/include/{arch}-linux-gnu");
    let hint = "the XDP program needs clang and the libbpf headers: \
                apt-get install clang llvm libbpf-dev (or set CLANG=...)";

    let obj = out.join("xlns.bpf.o");
    let st = Command::new(&clang)
        .args([
            "-O2", "-g", "-Wall", "-Werror", "-target", "bpf", &multiarch, "-c",
        ])
        .arg(ebpf.join("xlns.bpf.c"))
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap_or_else(|e| panic!("running {clang}: {e}; {hint}"));
    assert!(st.success(), "{clang} failed on ebpf/xlns.bpf.c; {hint}");

    let probe = out.join("abi_probe");
    let st = Command::new(&clang)
        .args(["-O0", "-Wall", "-Werror"])
        .arg(ebpf.join("abi_probe.c"))
        .arg("-o")
        .arg(&probe)
        .status()
        .unwrap_or_else(|e| panic!("running {clang}: {e}; {hint}"));
    assert!(st.success(), "{clang} failed on ebpf/abi_probe.c; {hint}");
    let o = Command::new(&probe)
        .output()
        .expect("running the ABI probe");
    assert!(o.status.success(), "the ABI probe failed");
    std::fs::write(out.join("abi.txt"), o.stdout).expect("writing abi.txt");
}
