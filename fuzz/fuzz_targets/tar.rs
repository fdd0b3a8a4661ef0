//! Tar and tar+gzip streams through the extractor: no panic, nothing written outside the
//! destination, limits always hold (see `orca_unpack::fuzzing::check_tar`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The check panics when an invariant does not hold; refusals are fine.
    let _ = orca_unpack::fuzzing::check_tar(data);
});
