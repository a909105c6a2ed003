//! The L2TP control codec (header, AVPs, hidden AVPs), fed arbitrary datagrams.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lns_protocol::fuzzing::l2tp_control(data));
