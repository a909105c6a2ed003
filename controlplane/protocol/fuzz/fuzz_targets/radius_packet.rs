//! The RADIUS packet codec and its verification, fed arbitrary datagrams.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lns_protocol::fuzzing::radius_packet(data));
