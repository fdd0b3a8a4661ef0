//! Integration tests for `orca-reference`: grammar tables (strict and normalised), building
//! references from parts, error-message snapshots, property tests and the fuzz corpus.

mod build;
mod corpus;
mod errors;
mod normalize;
mod parse;
mod props;
mod registry;

use orca_reference::{ErrorKind, Part};

/// An expected parse result.
#[derive(Debug)]
pub(crate) enum Want {
    /// Parses, with these parts.
    Ok {
        registry: String,
        repository: String,
        tag: Option<String>,
        digest: Option<String>,
    },
    /// Fails with this part, kind and position.
    Err(Part, ErrorKind, usize),
}

/// A table row.
#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) input: String,
    pub(crate) want: Want,
}

pub(crate) fn ok(
    input: impl Into<String>,
    registry: &str,
    repository: impl Into<String>,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Case {
    Case {
        input: input.into(),
        want: Want::Ok {
            registry: registry.to_owned(),
            repository: repository.into(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        },
    }
}

pub(crate) fn err(input: impl Into<String>, part: Part, kind: ErrorKind, position: usize) -> Case {
    Case {
        input: input.into(),
        want: Want::Err(part, kind, position),
    }
}

/// Run `parse` over `cases`, collecting every mismatch so one run shows them all.
pub(crate) fn run_table(
    cases: &[Case],
    parse: fn(&str) -> Result<orca_reference::Reference, orca_reference::Error>,
) {
    let mut failures = Vec::new();
    for case in cases {
        let got = parse(&case.input);
        let matches = match (&case.want, &got) {
            (
                Want::Ok {
                    registry,
                    repository,
                    tag,
                    digest,
                },
                Ok(r),
            ) => {
                r.registry() == registry
                    && r.repository() == repository
                    && r.tag() == tag.as_deref()
                    && r.digest().map(orca_reference::Digest::as_str) == digest.as_deref()
            }
            (Want::Err(part, kind, position), Err(e)) => {
                e.part() == *part
                    && e.kind() == *kind
                    && e.position() == *position
                    && e.input() == case.input
            }
            _ => false,
        };
        if !matches {
            failures.push(format!(
                "{:?}\n  want {:?}\n  got  {got:?}",
                case.input, case.want
            ));
        }
        // Every table input also satisfies the fuzz target's invariants.
        orca_reference::fuzzing::check_str(&case.input);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

pub(crate) const SHA256_F: &str =
    "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
