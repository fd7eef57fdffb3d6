//! Decryption key material (`*.agekey`, `*.asc` entries of a Secret).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sops::fuzzing::keys(data);
});
