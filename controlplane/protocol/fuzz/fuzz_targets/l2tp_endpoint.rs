//! The whole control endpoint (demux, transport, tunnel and session FSMs),
//! fed scripts of arbitrary datagrams, clock ticks and local requests.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lns_protocol::fuzzing::l2tp_endpoint(data));
