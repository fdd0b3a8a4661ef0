//! Validators for each part of a reference.
//!
//! Each takes the whole string being reported on (`input`) and the byte range of the part
//! inside it, so that errors carry positions in the caller's terms. The grammar is ASCII:
//! scanning stops at the first byte outside it, and because every byte before it was ASCII
//! that byte starts a character, so every reported position is a char boundary.

use std::net::Ipv6Addr;

use orca_manifest::{Digest, DigestErrorKind};

use crate::{Error, ErrorKind, MAX_REPOSITORY_LEN, MAX_TAG_LEN, Part};

/// The character starting at byte `i` of `s` (a replacement character if `i` is not a
/// boundary, which the callers never pass).
fn char_at(s: &str, i: usize) -> char {
    s.get(i..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Docker's rule for "the first path component is a registry host": it is `localhost`,
/// contains `.` or `:`, or contains an upper-case letter (repositories are lower case, so
/// such a component cannot be one). A leading `[` (an IPv6 address) counts too, so that a
/// malformed address is reported as a registry problem.
pub(crate) fn is_registry_like(component: &str) -> bool {
    component == "localhost"
        || component.starts_with('[')
        || component
            .bytes()
            .any(|b| b == b'.' || b == b':' || b.is_ascii_uppercase())
}

/// `host[:port]` where host is a domain name, an IPv4 address or a bracketed IPv6 address.
pub(crate) fn check_registry(input: &str, start: usize, end: usize) -> Result<(), Error> {
    let s = &input[start..end];
    let fail = |kind, at: usize| Err(Error::new(input, Part::Registry, kind, start + at));
    if s.is_empty() {
        return fail(ErrorKind::Empty, 0);
    }
    let port_start = if let Some(inner_and_rest) = s.strip_prefix('[') {
        let Some(close) = inner_and_rest.find(']') else {
            return fail(ErrorKind::InvalidIpv6, 0);
        };
        let inner = &inner_and_rest[..close];
        if let Some(bad) = inner
            .bytes()
            .position(|b| !(b.is_ascii_hexdigit() || b == b':'))
        {
            return fail(ErrorKind::InvalidIpv6, 1 + bad);
        }
        if inner.parse::<Ipv6Addr>().is_err() {
            return fail(ErrorKind::InvalidIpv6, 1);
        }
        let after = close + 2; // '[' + inner + ']'
        match s.as_bytes().get(after) {
            None => None,
            Some(b':') => Some(after + 1),
            Some(_) => return fail(ErrorKind::InvalidCharacter(char_at(s, after)), after),
        }
    } else {
        let host_end = s.find(':').unwrap_or(s.len());
        check_host_name(&s[..host_end]).or_else(|(kind, at)| fail(kind, at))?;
        (host_end < s.len()).then_some(host_end + 1)
    };
    if let Some(port_start) = port_start {
        let port = &s[port_start..];
        if let Some(bad) = port.bytes().position(|b| !b.is_ascii_digit()) {
            return fail(ErrorKind::InvalidPort, port_start + bad);
        }
        let in_range =
            port.len() <= 5 && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !in_range {
            return fail(ErrorKind::InvalidPort, port_start);
        }
    }
    Ok(())
}

/// Dot-separated labels of ASCII letters, digits and inner hyphens. IPv4 addresses in
/// dotted decimal are such names too.
fn check_host_name(host: &str) -> Result<(), (ErrorKind, usize)> {
    let mut offset = 0;
    for label in host.split('.') {
        let bytes = label.as_bytes();
        if bytes.is_empty() {
            return Err((ErrorKind::InvalidHostLabel, offset));
        }
        if let Some(bad) = bytes
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err((
                ErrorKind::InvalidCharacter(char_at(label, bad)),
                offset + bad,
            ));
        }
        if bytes[0] == b'-' {
            return Err((ErrorKind::InvalidHostLabel, offset));
        }
        if bytes[bytes.len() - 1] == b'-' {
            return Err((ErrorKind::InvalidHostLabel, offset + bytes.len() - 1));
        }
        offset += label.len() + 1;
    }
    Ok(())
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_separator(b: u8) -> bool {
    matches!(b, b'.' | b'_' | b'-')
}

/// `component ('/' component)*` with
/// `component = [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`. The length limit is checked
/// separately ([`check_repository_len`]) because normalisation may add a prefix.
pub(crate) fn check_repository(input: &str, start: usize, end: usize) -> Result<(), Error> {
    let s = &input[start..end];
    let fail = |kind, at: usize| Err(Error::new(input, Part::Repository, kind, start + at));
    let mut offset = 0;
    for component in s.split('/') {
        let b = component.as_bytes();
        if b.is_empty() {
            return fail(ErrorKind::EmptyComponent, offset);
        }
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if is_lower_alnum(c) {
                i += 1;
            } else if is_separator(c) {
                let run_start = i;
                while i < b.len() && is_separator(b[i]) {
                    i += 1;
                }
                let run = &b[run_start..i];
                let valid_run =
                    matches!(run, b"." | b"_" | b"__") || run.iter().all(|&r| r == b'-');
                if run_start == 0 || i == b.len() || !valid_run {
                    return fail(ErrorKind::InvalidSeparator, offset + run_start);
                }
            } else if c.is_ascii_uppercase() {
                return fail(ErrorKind::Uppercase(char::from(c)), offset + i);
            } else {
                return fail(
                    ErrorKind::InvalidCharacter(char_at(component, i)),
                    offset + i,
                );
            }
        }
        offset += component.len() + 1;
    }
    Ok(())
}

/// The repository's length limit: `prefix_len` bytes added by normalisation (`library/`)
/// plus the validated (ASCII) bytes `input[start..end]`.
pub(crate) fn check_repository_len(
    input: &str,
    start: usize,
    end: usize,
    prefix_len: usize,
) -> Result<(), Error> {
    let length = prefix_len + (end - start);
    if length > MAX_REPOSITORY_LEN {
        // The first byte beyond the limit, in the input's terms.
        let at = start + MAX_REPOSITORY_LEN.saturating_sub(prefix_len);
        return Err(Error::new(
            input,
            Part::Repository,
            ErrorKind::RepositoryTooLong { length },
            at,
        ));
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn check_tag(input: &str, start: usize, end: usize) -> Result<(), Error> {
    let s = &input[start..end];
    let fail = |kind, at: usize| Err(Error::new(input, Part::Tag, kind, start + at));
    let b = s.as_bytes();
    if b.is_empty() {
        return fail(ErrorKind::Empty, 0);
    }
    if matches!(b[0], b'.' | b'-') {
        return fail(ErrorKind::InvalidTagStart(char::from(b[0])), 0);
    }
    for (i, &c) in b.iter().enumerate() {
        if i == MAX_TAG_LEN {
            return fail(ErrorKind::TagTooLong { length: b.len() }, i);
        }
        if !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) {
            return fail(ErrorKind::InvalidCharacter(char_at(s, i)), i);
        }
    }
    Ok(())
}

/// The digest `input[start..end]`, validated by [`Digest::parse`] (the one digest grammar,
/// `orca-manifest`'s) with its error reported in the reference's terms.
pub(crate) fn parse_digest(input: &str, start: usize, end: usize) -> Result<Digest, Error> {
    let s = &input[start..end];
    let fail = |kind, at: usize| Error::new(input, Part::Digest, kind, start + at);
    if s.is_empty() {
        return Err(fail(ErrorKind::Empty, 0));
    }
    Digest::parse(s).map_err(|e| match e {
        orca_manifest::Error::InvalidDigest { kind, position, .. } => {
            fail(ErrorKind::InvalidDigest(kind), position)
        }
        // `Digest::parse` fails with `InvalidDigest` only; should that change, the digest
        // is still refused, at its start.
        _ => fail(ErrorKind::InvalidDigest(DigestErrorKind::InvalidEncoded), 0),
    })
}

/// Docker's image-ID form: exactly 64 lowercase hex characters.
pub(crate) fn is_image_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::{is_image_id, is_registry_like};

    #[test]
    fn registry_rule_is_dockers() {
        let cases = [
            ("localhost", true),
            ("a.io", true),
            ("host:5000", true),
            ("[::1]", true),
            ("Foo", true),
            ("team", false),
            ("local-host", false),
            ("", false),
        ];
        assert_eq!(cases.len(), 8);
        for (component, want) in cases {
            assert_eq!(is_registry_like(component), want, "{component:?}");
        }
    }

    #[test]
    fn image_ids_are_exactly_64_lowercase_hex() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(is_image_id(&hex));
        assert!(!is_image_id(&hex[..63]));
        assert!(!is_image_id(&format!("{hex}0")));
        assert!(!is_image_id(&hex.to_uppercase()));
    }
}
