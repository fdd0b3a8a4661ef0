//! Fuzzes token-response parsing: never panics, and a parsed token lives between zero and
//! a year (see `orca_auth::fuzzing::check_token_response`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    orca_auth::fuzzing::check_token_response(data);
});
