//! Fuzzes `WWW-Authenticate` parsing: never panics, and parsed challenges re-format to
//! text that parses back equal (see `orca_auth::fuzzing::check_www_authenticate`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    orca_auth::fuzzing::check_www_authenticate(data);
});
