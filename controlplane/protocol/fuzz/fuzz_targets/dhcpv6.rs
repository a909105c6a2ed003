//! The DHCPv6 message codec and the server's answers, fed arbitrary UDP payloads.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lns_protocol::fuzzing::dhcpv6(data));
