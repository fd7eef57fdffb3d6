#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pi_verify::fuzzing::git_object(data));
