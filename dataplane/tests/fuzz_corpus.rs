//! Replays every committed fuzz seed through the entry point the cargo-fuzz
//! target calls, so CI exercises them on stable Rust.

#[test]
fn wire_frame_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/wire_frame");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        lns_dataplane::fuzzing::wire_frame(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n >= 10, "only {n} seeds in {}", dir.display());
}
