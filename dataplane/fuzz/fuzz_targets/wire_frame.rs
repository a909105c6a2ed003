//! Every data-plane wire view, fed arbitrary frames.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lns_dataplane::fuzzing::wire_frame(data));
