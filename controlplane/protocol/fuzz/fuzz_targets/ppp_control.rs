//! Every PPP parser (LCP, IPCP, IPv6CP, PAP, CHAP, MS-CHAPv2); the first
//! octet selects which.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| lns_protocol::fuzzing::ppp_control(data));
