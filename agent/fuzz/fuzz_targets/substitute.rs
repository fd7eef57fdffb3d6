//! Post-build substitution over manifest text (untrusted: it comes from the repository).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pi_agent::render::substitute::fuzz_substitute(data);
});
