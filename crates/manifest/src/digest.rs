//! Content digests (`algorithm:encoded`), streaming hashers and verification.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

use crate::Error;

/// A digest algorithm.
///
/// `sha256` and `sha512` can be computed and verified. Any other algorithm that is well
/// formed under the OCI grammar (`[a-z0-9]+([+._-][a-z0-9]+)*`) is kept as
/// [`Algorithm::Other`]: such a digest parses and round-trips, but cannot be verified.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-256; the encoded part is 64 lowercase hex characters.
    Sha256,
    /// SHA-512; the encoded part is 128 lowercase hex characters.
    Sha512,
    /// A well-formed algorithm orca cannot compute.
    Other(String),
}

impl Algorithm {
    /// The algorithm's name as it appears before the `:`.
    pub fn as_str(&self) -> &str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Other(name) => name,
        }
    }

    /// The length of the hex-encoded value for algorithms orca knows.
    pub fn encoded_len(&self) -> Option<usize> {
        match self {
            Algorithm::Sha256 => Some(64),
            Algorithm::Sha512 => Some(128),
            Algorithm::Other(_) => None,
        }
    }

    fn from_name(name: &str) -> Algorithm {
        match name {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => Algorithm::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestErrorKind {
    /// There is no `:` separating algorithm and encoded value.
    MissingSeparator,
    /// The algorithm part is empty or has a character outside `[a-z0-9+._-]`, or a
    /// separator at its start, end or next to another separator.
    InvalidAlgorithm,
    /// The encoded part is empty or has a character outside `[a-zA-Z0-9=_-]`.
    InvalidEncoded,
    /// The encoded part of a `sha256`/`sha512` digest is not lowercase hex.
    NotLowercaseHex,
    /// The encoded part of a `sha256`/`sha512` digest has the wrong length.
    WrongLength {
        /// The length the algorithm needs.
        expected: usize,
        /// The length that was given.
        actual: usize,
    },
}

impl fmt::Display for DigestErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestErrorKind::MissingSeparator => {
                f.write_str("missing ':' between algorithm and value")
            }
            DigestErrorKind::InvalidAlgorithm => {
                f.write_str("algorithm must match [a-z0-9]+([+._-][a-z0-9]+)*")
            }
            DigestErrorKind::InvalidEncoded => {
                f.write_str("encoded value must match [a-zA-Z0-9=_-]+")
            }
            DigestErrorKind::NotLowercaseHex => f.write_str("encoded value must be lowercase hex"),
            DigestErrorKind::WrongLength { expected, actual } => write!(
                f,
                "encoded value must be {expected} hex characters, found {actual}"
            ),
        }
    }
}

/// A validated content digest such as `sha256:e3b0c442…`.
///
/// # Invariants
///
/// The algorithm is well formed; for `sha256` and `sha512` the encoded value is lowercase
/// hex of exactly the algorithm's length. `Display` prints the digest exactly as parsed,
/// and equality, ordering and hashing are over that string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The whole digest, `algorithm:encoded`.
    text: String,
    /// Index of the `:` in `text`.
    colon: usize,
}

impl Digest {
    /// Parse and validate a digest.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDigest`] names the input, what is wrong and the byte position.
    pub fn parse(input: &str) -> Result<Digest, Error> {
        let fail = |kind, position| Error::InvalidDigest {
            input: input.to_owned(),
            kind,
            position,
        };
        let Some(colon) = input.find(':') else {
            return Err(fail(DigestErrorKind::MissingSeparator, input.len()));
        };
        let (algorithm, encoded) = (&input[..colon], &input[colon + 1..]);
        if let Some(pos) = invalid_algorithm_position(algorithm) {
            return Err(fail(DigestErrorKind::InvalidAlgorithm, pos));
        }
        if encoded.is_empty() {
            return Err(fail(DigestErrorKind::InvalidEncoded, colon + 1));
        }
        if let Some(pos) = encoded
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-'))
        {
            return Err(fail(DigestErrorKind::InvalidEncoded, colon + 1 + pos));
        }
        if let Some(expected) = Algorithm::from_name(algorithm).encoded_len() {
            if let Some(pos) = encoded
                .bytes()
                .position(|b| !(b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            {
                return Err(fail(DigestErrorKind::NotLowercaseHex, colon + 1 + pos));
            }
            if encoded.len() != expected {
                return Err(fail(
                    DigestErrorKind::WrongLength {
                        expected,
                        actual: encoded.len(),
                    },
                    colon + 1,
                ));
            }
        }
        Ok(Digest {
            text: input.to_owned(),
            colon,
        })
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        let mut hasher = Hasher::sha256();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest of `bytes` with `algorithm`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedAlgorithm`] for an algorithm orca cannot compute.
    pub fn compute(algorithm: &Algorithm, bytes: &[u8]) -> Result<Digest, Error> {
        let mut hasher = Hasher::new(algorithm)?;
        hasher.update(bytes);
        Ok(hasher.finish())
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        Algorithm::from_name(&self.text[..self.colon])
    }

    /// The algorithm's name, the part before the `:`.
    pub fn algorithm_str(&self) -> &str {
        &self.text[..self.colon]
    }

    /// The encoded value, the part after the `:`.
    pub fn encoded(&self) -> &str {
        &self.text[self.colon + 1..]
    }

    /// The whole digest, `algorithm:encoded`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Check that `bytes` hash to this digest.
    ///
    /// # Errors
    ///
    /// [`Error::DigestMismatch`] when they do not, [`Error::UnsupportedAlgorithm`] when the
    /// algorithm cannot be computed.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut verifier = Verifier::new(self.clone(), None)?;
        verifier.update(bytes);
        verifier.finish()
    }

    /// Read `reader` to its end and check that its bytes hash to this digest and, when
    /// given, that there are exactly `expected_size` of them. Returns the number of bytes
    /// read.
    ///
    /// Memory use is constant: the reader is hashed in 64 KiB pieces, and reading stops
    /// with [`Error::SizeMismatch`] as soon as more than `expected_size` bytes arrive.
    ///
    /// # Errors
    ///
    /// [`Error::DigestMismatch`], [`Error::SizeMismatch`], [`Error::UnsupportedAlgorithm`],
    /// or [`Error::Io`] when the reader fails.
    pub fn verify_reader<R: Read>(
        &self,
        expected_size: Option<u64>,
        reader: R,
    ) -> Result<u64, Error> {
        let mut verifying = VerifyingReader::new(reader, self.clone(), expected_size)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match verifying.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::from_verify_io(e)),
            }
        }
        Ok(verifying.bytes_read())
    }
}

fn invalid_algorithm_position(algorithm: &str) -> Option<usize> {
    if algorithm.is_empty() {
        return Some(0);
    }
    let bytes = algorithm.as_bytes();
    let is_sep = |b: u8| matches!(b, b'+' | b'.' | b'_' | b'-');
    for (i, &b) in bytes.iter().enumerate() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            continue;
        }
        if is_sep(b) && i > 0 && i + 1 < bytes.len() && !is_sep(bytes[i - 1]) {
            continue;
        }
        return Some(i);
    }
    None
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher for one of the supported algorithms.
#[derive(Clone)]
pub struct Hasher {
    inner: HasherInner,
}

#[derive(Clone)]
enum HasherInner {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A hasher for `algorithm`.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedAlgorithm`] for an algorithm orca cannot compute.
    pub fn new(algorithm: &Algorithm) -> Result<Hasher, Error> {
        let inner = match algorithm {
            Algorithm::Sha256 => HasherInner::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => HasherInner::Sha512(sha2::Sha512::new()),
            Algorithm::Other(name) => {
                return Err(Error::UnsupportedAlgorithm {
                    algorithm: name.clone(),
                });
            }
        };
        Ok(Hasher { inner })
    }

    /// A SHA-256 hasher.
    pub fn sha256() -> Hasher {
        Hasher {
            inner: HasherInner::Sha256(sha2::Sha256::new()),
        }
    }

    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.inner {
            HasherInner::Sha256(h) => h.update(bytes),
            HasherInner::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (name, hex) = match self.inner {
            HasherInner::Sha256(h) => ("sha256", hex::encode(h.finalize())),
            HasherInner::Sha512(h) => ("sha512", hex::encode(h.finalize())),
        };
        Digest {
            colon: name.len(),
            text: format!("{name}:{hex}"),
        }
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.inner {
            HasherInner::Sha256(_) => "sha256",
            HasherInner::Sha512(_) => "sha512",
        };
        f.debug_struct("Hasher").field("algorithm", &name).finish()
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Checks a stream of bytes against an expected digest and, optionally, size.
///
/// Call [`Verifier::update`] for each piece as it arrives, then [`Verifier::finish`]. A
/// caller streaming from the network should also check [`Verifier::exceeded`] after each
/// piece, so that an over-long body is refused as soon as it goes past the size instead
/// of after it has all been read.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected: Digest,
    expected_size: Option<u64>,
    seen: u64,
    hasher: Hasher,
}

impl Verifier {
    /// A verifier for `expected`, and for `expected_size` bytes when given.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedAlgorithm`] when the digest's algorithm cannot be computed.
    pub fn new(expected: Digest, expected_size: Option<u64>) -> Result<Verifier, Error> {
        let hasher = Hasher::new(&expected.algorithm())?;
        Ok(Verifier {
            expected,
            expected_size,
            seen: 0,
            hasher,
        })
    }

    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        self.hasher.update(bytes);
    }

    /// How many bytes were fed.
    pub fn bytes_seen(&self) -> u64 {
        self.seen
    }

    /// The digest being checked for.
    pub fn expected(&self) -> &Digest {
        &self.expected
    }

    /// `Err` as soon as more bytes were fed than the expected size.
    ///
    /// # Errors
    ///
    /// [`Error::SizeMismatch`] with the count seen so far.
    pub fn exceeded(&self) -> Result<(), Error> {
        match self.expected_size {
            Some(size) if self.seen > size => Err(Error::SizeMismatch {
                digest: self.expected.clone(),
                expected: size,
                actual: self.seen,
            }),
            _ => Ok(()),
        }
    }

    /// Check size and digest of everything fed.
    ///
    /// # Errors
    ///
    /// [`Error::SizeMismatch`] (checked first) or [`Error::DigestMismatch`].
    pub fn finish(self) -> Result<(), Error> {
        if let Some(size) = self.expected_size
            && size != self.seen
        {
            return Err(Error::SizeMismatch {
                digest: self.expected,
                expected: size,
                actual: self.seen,
            });
        }
        let actual = self.hasher.finish();
        if actual == self.expected {
            Ok(())
        } else {
            Err(Error::DigestMismatch {
                expected: self.expected,
                actual,
            })
        }
    }
}

/// A reader that passes bytes through while verifying them.
///
/// When the inner reader reaches its end, the size and digest are checked and a mismatch
/// is returned as an [`io::Error`] of kind [`io::ErrorKind::InvalidData`] whose inner
/// error is the [`Error`]; reading stops with that error as soon as more than the expected
/// size arrives. Consumers such as a tar extractor therefore never see the end of a
/// stream that does not match its descriptor.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: R,
    verifier: Option<Verifier>,
    bytes_read: u64,
}

impl<R: Read> VerifyingReader<R> {
    /// Wrap `inner`, expecting `digest` and, when given, `expected_size` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedAlgorithm`] when the digest's algorithm cannot be computed.
    pub fn new(inner: R, digest: Digest, expected_size: Option<u64>) -> Result<Self, Error> {
        Ok(VerifyingReader {
            inner,
            verifier: Some(Verifier::new(digest, expected_size)?),
            bytes_read: 0,
        })
    }

    /// Bytes read from the inner reader so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The inner reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes_read += n as u64;
        if n == 0 {
            if let Some(verifier) = self.verifier.take() {
                verifier.finish().map_err(Error::into_io)?;
            }
            return Ok(0);
        }
        if let Some(verifier) = &mut self.verifier {
            verifier.update(&buf[..n]);
            verifier.exceeded().map_err(Error::into_io)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_of_empty_matches_the_well_known_value() {
        assert_eq!(Digest::sha256(b"").as_str(), EMPTY_SHA256);
        assert_eq!(Digest::sha256(b"{}").as_str(), crate::EMPTY_JSON_DIGEST);
    }

    #[test]
    fn sha512_is_computed_and_verified() {
        let d = Digest::compute(&Algorithm::Sha512, b"abc").unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha512);
        assert_eq!(d.encoded().len(), 128);
        assert!(d.encoded().starts_with("ddaf35a193617aba"));
        d.verify(b"abc").unwrap();
        assert!(d.verify(b"abd").is_err());
    }

    #[test]
    fn parse_table() {
        let sha = "a".repeat(64);
        let cases: &[(String, Option<DigestErrorKind>)] = &[
            (format!("sha256:{sha}"), None),
            (format!("sha512:{}", "0".repeat(128)), None),
            (
                "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".into(),
                None,
            ),
            ("sha3-256:abc".into(), None),
            ("a.b_c+d-e:X=_-y".into(), None),
            ("nocolon".into(), Some(DigestErrorKind::MissingSeparator)),
            (format!(":{sha}"), Some(DigestErrorKind::InvalidAlgorithm)),
            (
                format!("SHA256:{sha}"),
                Some(DigestErrorKind::InvalidAlgorithm),
            ),
            (
                format!("sha256-:{sha}"),
                Some(DigestErrorKind::InvalidAlgorithm),
            ),
            (
                format!("-sha256:{sha}"),
                Some(DigestErrorKind::InvalidAlgorithm),
            ),
            (
                format!("sha--256:{sha}"),
                Some(DigestErrorKind::InvalidAlgorithm),
            ),
            ("sha256:".into(), Some(DigestErrorKind::InvalidEncoded)),
            ("foo:a/b".into(), Some(DigestErrorKind::InvalidEncoded)),
            (
                format!("sha256:{}", "A".repeat(64)),
                Some(DigestErrorKind::NotLowercaseHex),
            ),
            (
                format!("sha256:{}", "g".repeat(64)),
                Some(DigestErrorKind::NotLowercaseHex),
            ),
            (
                format!("sha256:{}", "a".repeat(63)),
                Some(DigestErrorKind::WrongLength {
                    expected: 64,
                    actual: 63,
                }),
            ),
            (
                format!("sha256:{}", "a".repeat(65)),
                Some(DigestErrorKind::WrongLength {
                    expected: 64,
                    actual: 65,
                }),
            ),
            (
                format!("sha512:{sha}"),
                Some(DigestErrorKind::WrongLength {
                    expected: 128,
                    actual: 64,
                }),
            ),
        ];
        assert_eq!(cases.len(), 18, "the table must not shrink silently");
        for (input, want) in cases {
            match (Digest::parse(input), want) {
                (Ok(d), None) => assert_eq!(d.to_string(), *input),
                (Err(Error::InvalidDigest { kind, input: i, .. }), Some(k)) => {
                    assert_eq!(kind, *k, "{input}");
                    assert_eq!(&i, input);
                }
                (other, _) => panic!("{input}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn error_names_position() {
        let err = Digest::parse("sha256:abcX").unwrap_err();
        let Error::InvalidDigest { position, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*position, 10);
        assert!(err.to_string().contains("sha256:abcX"), "{err}");
    }

    #[test]
    fn unknown_algorithm_is_kept_but_not_verifiable() {
        let d = Digest::parse("blake3:abcd").unwrap();
        assert_eq!(d.algorithm(), Algorithm::Other("blake3".into()));
        assert!(matches!(
            d.verify(b""),
            Err(Error::UnsupportedAlgorithm { algorithm }) if algorithm == "blake3"
        ));
    }

    #[test]
    fn verify_reader_checks_size_and_digest() {
        let data = vec![7u8; 200_000];
        let d = Digest::sha256(&data);
        assert_eq!(d.verify_reader(Some(200_000), &data[..]).unwrap(), 200_000);
        assert!(matches!(
            d.verify_reader(Some(100), &data[..]),
            Err(Error::SizeMismatch { expected: 100, .. })
        ));
        assert!(matches!(
            d.verify_reader(None, &data[..199_999]),
            Err(Error::DigestMismatch { .. })
        ));
    }

    #[test]
    fn verifying_reader_fails_at_eof_on_mismatch() {
        let d = Digest::sha256(b"hello");
        let mut ok = VerifyingReader::new(&b"hello"[..], d.clone(), Some(5)).unwrap();
        let mut out = Vec::new();
        ok.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");

        let mut bad = VerifyingReader::new(&b"hellO"[..], d, Some(5)).unwrap();
        let err = bad.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let inner = err.into_inner().unwrap().downcast::<Error>().unwrap();
        assert!(matches!(*inner, Error::DigestMismatch { .. }));
    }

    #[test]
    fn serde_round_trip_and_rejects_invalid() {
        let d: Digest = serde_json::from_str(&format!("\"{EMPTY_SHA256}\"")).unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!("\"{EMPTY_SHA256}\"")
        );
        assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());
    }
}
