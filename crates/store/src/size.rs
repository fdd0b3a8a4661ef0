//! Sizes written with units: `1048576`, `1MiB`, `50 MiB`, `2GB`.

use crate::Error;

const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("k", 1000),
    ("kb", 1000),
    ("m", 1_000_000),
    ("mb", 1_000_000),
    ("g", 1_000_000_000),
    ("gb", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("tb", 1_000_000_000_000),
];

/// Parses a size: a whole number of bytes, optionally followed by a unit (`KiB`, `MiB`,
/// `GiB`, `TiB` in powers of 1024; `kB`, `MB`, `GB`, `TB` in powers of 1000; any case,
/// spaces allowed before the unit).
///
/// # Errors
///
/// [`Error::InvalidSize`] for anything else, including overflow.
pub fn parse_size(input: &str) -> Result<u64, Error> {
    let invalid = |reason| Error::InvalidSize {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits_end == 0 {
        return Err(invalid("it must start with a whole number of bytes"));
    }
    let number: u64 = text[..digits_end]
        .parse()
        .map_err(|_| invalid("the number is too large"))?;
    let unit = text[digits_end..].trim().to_ascii_lowercase();
    let multiplier = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, m)| *m)
        .ok_or_else(|| invalid("unknown unit (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)"))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| invalid("the size is too large"))
}

/// Formats a size the way [`parse_size`] reads it back: the largest binary unit that
/// divides it exactly (`1MiB`, `1536KiB`, `12345`).
pub fn format_size(bytes: u64) -> String {
    for (unit, multiplier) in [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ] {
        if bytes >= multiplier && bytes.is_multiple_of(multiplier) {
            return format!("{}{unit}", bytes / multiplier);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_round_trip() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("50 mib").unwrap(), 50 << 20);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        for bad in [
            "",
            "MiB",
            "1 XB",
            "-1",
            "99999999999999999999",
            "17179869184TiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        for n in [0, 1, 1023, 1024, 1536 * 1024, 1 << 20, 50 << 20, 3 << 40] {
            assert_eq!(parse_size(&format_size(n)).unwrap(), n);
        }
        assert_eq!(format_size(1 << 20), "1MiB");
    }
}
