//! The invariants the `reference` fuzz target checks, shared with the test that replays
//! its corpus. Not part of the parsing API; public only so that `fuzz/` can call it.

use crate::{DEFAULT_TAG, ErrorKind, Reference, Registry};

/// Check every invariant of both parsers on `data` (ignored unless it is UTF-8).
///
/// # Panics
///
/// When an invariant is broken, which is the point:
/// - a strictly parsed reference displays as the input with its registry normalised (the
///   registry is what [`Registry::parse`] makes of the input's first component, and
///   normalising it again changes nothing);
/// - any parsed reference (strict or normalised) displays as a string that
///   [`Reference::parse`] reads back into an equal value, and a normalised one as a string
///   that [`Reference::parse_normalized`] reads back into an equal value;
/// - whatever parses strictly also parses normalised, to the same reference up to
///   Docker Hub's `library/` rule and the default tag;
/// - an error's input is the input and its position a char boundary within it, and its
///   message can be formatted.
pub fn check(data: &[u8]) {
    if let Ok(input) = std::str::from_utf8(data) {
        check_str(input);
    }
}

/// [`check`] for a string.
///
/// # Panics
///
/// As [`check`].
pub fn check_str(input: &str) {
    let strict = Reference::parse(input);
    match &strict {
        Ok(reference) => {
            let (registry, rest) = input.split_once('/').expect("a strict reference has a '/'");
            let registry = Registry::parse(registry).expect("a strict reference's registry parses");
            assert_eq!(&registry, reference.registry());
            assert_eq!(Registry::parse(registry.as_str()).as_ref(), Ok(&registry));
            assert_eq!(
                reference.to_string(),
                format!("{registry}/{rest}"),
                "strict Display is not the input with its registry normalised"
            );
            assert_reparses_strictly(reference);
        }
        Err(error) => assert_error_is_sound(input, error),
    }
    let normalized = Reference::parse_normalized(input);
    match &normalized {
        Ok(reference) => {
            assert_reparses_strictly(reference);
            let text = reference.to_string();
            assert_eq!(
                Reference::parse_normalized(&text).as_ref(),
                Ok(reference),
                "{text:?} does not re-parse normalised to itself"
            );
            assert!(
                reference.tag().is_some() || reference.digest().is_some(),
                "normalised {reference} has neither tag nor digest"
            );
        }
        Err(error) => assert_error_is_sound(input, error),
    }
    if let Ok(strict) = strict {
        let registry = strict.registry();
        let normalized = match normalized {
            Ok(normalized) => normalized,
            // Normalisation may add `library/` and push a long Docker Hub repository over
            // the limit; nothing else may fail.
            Err(error)
                if registry.is_docker_hub()
                    && matches!(error.kind(), ErrorKind::RepositoryTooLong { .. }) =>
            {
                return;
            }
            Err(error) => panic!("{input:?} parses strictly but not normalised: {error}"),
        };
        assert_eq!(normalized.registry(), registry);
        assert!(
            normalized
                .repository()
                .ends_with(strict.repository().as_str())
        );
        assert_eq!(normalized.digest(), strict.digest());
        let tag = match (strict.tag(), strict.digest()) {
            (None, None) => Some(DEFAULT_TAG),
            (tag, _) => tag,
        };
        assert_eq!(normalized.tag(), tag);
        assert_eq!(strict.manifest_reference(), normalized.manifest_reference());
    }
}

fn assert_reparses_strictly(reference: &Reference) {
    let text = reference.to_string();
    assert_eq!(
        Reference::parse(&text).as_ref(),
        Ok(reference),
        "{text:?} does not re-parse strictly"
    );
}

fn assert_error_is_sound(input: &str, error: &crate::Error) {
    assert_eq!(error.input(), input);
    assert!(error.position() <= input.len());
    assert!(input.is_char_boundary(error.position()));
    let message = error.to_string();
    assert!(message.starts_with("invalid "), "{message}");
}
