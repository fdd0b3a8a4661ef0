//! Fuzz `orca_reference`'s strict and normalised parsers.
//!
//! Invariants (see `orca_reference::fuzzing::check`): whatever parses displays as a string
//! that re-parses to an equal value, strict parsing displays the input unchanged, whatever
//! parses strictly also parses normalised, and errors point at a char boundary inside the
//! input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| orca_reference::fuzzing::check(data));
