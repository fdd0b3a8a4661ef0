//! Fuzz `orca_manifest::Manifest::parse` with every Content-Type orca meets.
//!
//! Invariants (checked by `orca_manifest::fuzzing::check_manifest`, which the crate's tests
//! also run over `fuzz/corpus/manifest/`): anything that parses keeps exactly its input and
//! reports the sha256 digest of it; a manifest accepted under a specific Content-Type has
//! that media type; re-serialising a parsed manifest or index re-parses equal and
//! re-serialises to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = orca_manifest::fuzzing::check_manifest(data);
});
