#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pi_verify::fuzzing::ssh_signature(data));
