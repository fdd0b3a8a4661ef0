//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1) and formatting.

use std::fmt;

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

use crate::error::{ChallengeErrorKind, Error};

/// Longest header text kept in a parse error.
const ERROR_INPUT_LIMIT: usize = 256;

/// One authentication challenge: a scheme and its parameters (or a `token68`).
///
/// Invariants: parameter names are stored lower-cased (they are case-insensitive); the
/// scheme is kept as written and compared case-insensitively; formatting a challenge
/// with [`Display`](fmt::Display) and parsing the text gives back an equal challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    token68: Option<String>,
    params: Vec<(String, String)>,
}

impl Challenge {
    /// Builds a challenge from a scheme and parameters (names are lower-cased).
    ///
    /// # Errors
    ///
    /// [`Error::Challenge`] when the scheme or a parameter name is not an HTTP token.
    pub fn new<'a>(
        scheme: &str,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Challenge, Error> {
        let err = |kind| Error::Challenge {
            input: truncate(scheme),
            kind,
            position: 0,
        };
        if scheme.is_empty() || !scheme.bytes().all(is_tchar) {
            return Err(err(ChallengeErrorKind::ExpectedScheme));
        }
        let mut out = Vec::new();
        for (name, value) in params {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(err(ChallengeErrorKind::ExpectedParameter));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(err(ChallengeErrorKind::InvalidCharacter));
            }
            out.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        Ok(Challenge {
            scheme: scheme.to_owned(),
            token68: None,
            params: out,
        })
    }

    /// The scheme as written (`Bearer`, `basic`, …).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Whether the scheme is `name`, ignoring case.
    pub fn is_scheme(&self, name: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(name)
    }

    /// The `token68` form of credentials, for schemes that use it instead of parameters.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, names lower-cased, in header order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The `realm` parameter.
    pub fn realm(&self) -> Option<&str> {
        self.param("realm")
    }

    /// The `service` parameter (Bearer).
    pub fn service(&self) -> Option<&str> {
        self.param("service")
    }

    /// The `scope` parameter (Bearer): space-separated scopes.
    pub fn scope(&self) -> Option<&str> {
        self.param("scope")
    }

    /// The `error` parameter (Bearer, RFC 6750): `invalid_token`, `insufficient_scope`, ….
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }

    /// Parses one `WWW-Authenticate` header value, which may hold several challenges.
    ///
    /// # Errors
    ///
    /// [`Error::Challenge`] with the kind of problem and its byte position.
    pub fn parse(input: &str) -> Result<Vec<Challenge>, Error> {
        Parser {
            input,
            bytes: input.as_bytes(),
            pos: 0,
        }
        .parse()
    }

    /// Parses every `WWW-Authenticate` header of a response (values are read as UTF-8).
    ///
    /// A header that does not parse is skipped when another one yields challenges;
    /// when none does, the first error is returned.
    ///
    /// # Errors
    ///
    /// [`Error::Challenge`] when no header parses; an empty list when there is no header.
    pub fn from_headers(headers: &HeaderMap) -> Result<Vec<Challenge>, Error> {
        let mut out = Vec::new();
        let mut first_error = None;
        for value in headers.get_all(WWW_AUTHENTICATE) {
            let parsed = std::str::from_utf8(value.as_bytes())
                .map_err(|_| Error::Challenge {
                    input: String::from_utf8_lossy(value.as_bytes())
                        .chars()
                        .take(ERROR_INPUT_LIMIT)
                        .collect(),
                    kind: ChallengeErrorKind::InvalidCharacter,
                    position: std::str::from_utf8(value.as_bytes())
                        .err()
                        .map_or(0, |e| e.valid_up_to()),
                })
                .and_then(Challenge::parse);
            match parsed {
                Ok(challenges) => out.extend(challenges),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        match first_error {
            Some(err) if out.is_empty() => Err(err),
            _ => Ok(out),
        }
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        if let Some(token) = &self.token68 {
            return write!(f, " {token}");
        }
        for (i, (name, value)) in self.params.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            write!(f, "{name}=\"")?;
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        Ok(())
    }
}

fn truncate(input: &str) -> String {
    input.chars().take(ERROR_INPUT_LIMIT).collect()
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Parser<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, kind: ChallengeErrorKind) -> Error {
        Error::Challenge {
            input: truncate(self.input),
            kind,
            position: self.pos,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    fn parse(mut self) -> Result<Vec<Challenge>, Error> {
        let mut out = Vec::new();
        loop {
            self.skip_ws_and_commas();
            if self.peek().is_none() {
                break;
            }
            let scheme = self.token().to_owned();
            if scheme.is_empty() {
                return Err(self.error(ChallengeErrorKind::ExpectedScheme));
            }
            let mut challenge = Challenge {
                scheme,
                token68: None,
                params: Vec::new(),
            };
            match self.peek() {
                None | Some(b',') => {
                    out.push(challenge);
                    continue;
                }
                Some(b' ' | b'\t') => self.skip_ws(),
                Some(_) => return Err(self.error(ChallengeErrorKind::InvalidCharacter)),
            }
            if self.try_token68(&mut challenge) {
                out.push(challenge);
                continue;
            }
            self.params(&mut challenge)?;
            out.push(challenge);
        }
        if out.is_empty() {
            return Err(self.error(ChallengeErrorKind::Empty));
        }
        Ok(out)
    }

    /// `token68` is only taken when it is followed by the end or a comma and is not an
    /// `auth-param` (no `=` followed by a value).
    fn try_token68(&mut self, challenge: &mut Challenge) -> bool {
        let start = self.pos;
        let mut end = start;
        while self.bytes.get(end).copied().is_some_and(is_token68_char) {
            end += 1;
        }
        if end == start {
            return false;
        }
        let mut after = end;
        while self.bytes.get(after) == Some(&b'=') {
            after += 1;
        }
        let mut probe = after;
        while matches!(self.bytes.get(probe), Some(b' ' | b'\t')) {
            probe += 1;
        }
        if !matches!(self.bytes.get(probe), None | Some(b',')) {
            return false;
        }
        challenge.token68 = Some(self.input[start..after].to_owned());
        self.pos = probe;
        true
    }

    fn params(&mut self, challenge: &mut Challenge) -> Result<(), Error> {
        loop {
            self.skip_ws_and_commas();
            if self.peek().is_none() {
                return Ok(());
            }
            let start = self.pos;
            let name = self.token().to_owned();
            if name.is_empty() {
                return Err(self.error(ChallengeErrorKind::ExpectedParameter));
            }
            self.skip_ws();
            if self.peek() != Some(b'=') {
                // A bare token: the next challenge's scheme.
                self.pos = start;
                return Ok(());
            }
            self.pos += 1;
            self.skip_ws();
            let value = match self.peek() {
                Some(b'"') => self.quoted()?,
                Some(b) if is_tchar(b) => self.token().to_owned(),
                _ => return Err(self.error(ChallengeErrorKind::ExpectedValue)),
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
            self.skip_ws();
            match self.peek() {
                None => return Ok(()),
                Some(b',') => {}
                Some(_) => return Err(self.error(ChallengeErrorKind::InvalidCharacter)),
            }
        }
    }

    fn quoted(&mut self) -> Result<String, Error> {
        let open = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let rest = &self.input[self.pos..];
            let Some(c) = rest.chars().next() else {
                self.pos = open;
                return Err(self.error(ChallengeErrorKind::UnterminatedQuotedString));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(value);
                }
                '\\' => {
                    self.pos += 1;
                    let Some(escaped) = self.input[self.pos..].chars().next() else {
                        self.pos = open;
                        return Err(self.error(ChallengeErrorKind::UnterminatedQuotedString));
                    };
                    if escaped.is_control() && escaped != '\t' {
                        return Err(self.error(ChallengeErrorKind::InvalidCharacter));
                    }
                    value.push(escaped);
                    self.pos += escaped.len_utf8();
                }
                c if c.is_control() && c != '\t' => {
                    return Err(self.error(ChallengeErrorKind::InvalidCharacter));
                }
                c => {
                    value.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }
}
