//! Push webhook payloads (GitLab, GitHub, generic): untrusted bytes from the network.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pi_agent::server::webhook::fuzz_push(data);
});
