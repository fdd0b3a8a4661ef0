//! Pure path checks: entry names, titles and link targets. No IO.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, LinkKind, PathProblem};
use crate::limits::{LimitKind, Limits};

/// A checked relative path: every component is a plain name (no `.`, `..`, empty, NUL or
/// backslash). May be empty, which names the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RelativePath {
    components: Vec<String>,
}

impl RelativePath {
    /// The components, outermost first.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// Whether this names the root.
    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// The path joined with `/`.
    pub fn as_string(&self) -> String {
        self.components.join("/")
    }

    /// The path as a [`PathBuf`] relative to the root.
    pub fn to_path_buf(&self) -> PathBuf {
        self.components.iter().collect()
    }

    /// This path without its leading `prefix`, or `None` when it does not start with it.
    pub fn strip_prefix(&self, prefix: &RelativePath) -> Option<RelativePath> {
        self.components
            .starts_with(&prefix.components)
            .then(|| RelativePath {
                components: self.components[prefix.components.len()..].to_vec(),
            })
    }

    fn parent_prefixes(&self) -> impl Iterator<Item = &[String]> {
        (1..self.components.len()).map(|n| &self.components[..n])
    }
}

impl fmt::Display for RelativePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.components.is_empty() {
            f.write_str(".")
        } else {
            f.write_str(&self.as_string())
        }
    }
}

/// Checks an entry name from an archive (or an ORAS title) and splits it into components.
///
/// Accepted: `/`-separated relative paths; empty and `.` components are dropped (`./a//b/`
/// is `a/b`). Refused: absolute paths, `..` anywhere, Windows drive letters (`C:`),
/// backslashes (so UNC `\\server\share` too), NUL bytes and non-UTF-8 bytes, and paths
/// longer or deeper than `limits` allow. The result may be the root (`.`, `./`).
///
/// # Errors
///
/// [`Error::UnsafePath`] naming the problem, or [`Error::Limit`] for
/// [`LimitKind::PathLength`] / [`LimitKind::PathDepth`].
///
/// ```
/// use orca_unpack::{check_path, Limits};
///
/// let path = check_path(b"./config/app.toml", &Limits::default())?;
/// assert_eq!(path.as_string(), "config/app.toml");
/// assert!(check_path(b"../etc/passwd", &Limits::default()).is_err());
/// assert!(check_path(b"C:\\Windows", &Limits::default()).is_err());
/// # Ok::<(), orca_unpack::Error>(())
/// ```
pub fn check_path(raw: &[u8], limits: &Limits) -> Result<RelativePath, Error> {
    let lossy = || String::from_utf8_lossy(raw).into_owned();
    let unsafe_path = |problem| Error::UnsafePath {
        path: lossy(),
        problem,
    };
    if raw.len() as u64 > limits.max_path_length {
        return Err(Error::Limit {
            limit: LimitKind::PathLength,
            value: limits.max_path_length,
            seen: raw.len() as u64,
            entry: Some(lossy()),
        });
    }
    if raw.contains(&0) {
        return Err(unsafe_path(PathProblem::Nul));
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(unsafe_path(PathProblem::NotUtf8));
    };
    if text.starts_with('/') {
        return Err(unsafe_path(PathProblem::Absolute));
    }
    let bytes = text.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(unsafe_path(PathProblem::WindowsDrive));
    }
    if text.starts_with('\\') || text.contains('\\') {
        return Err(unsafe_path(
            if text.starts_with('\\') && !text.starts_with("\\\\") {
                PathProblem::Absolute
            } else {
                PathProblem::Backslash
            },
        ));
    }
    let mut components = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(unsafe_path(PathProblem::ParentDir)),
            name => components.push(name.to_owned()),
        }
    }
    // `C:` (also after `./`) is a drive on Windows.
    if let Some(first) = components.first().map(String::as_bytes)
        && first.len() >= 2
        && first[0].is_ascii_alphabetic()
        && first[1] == b':'
    {
        return Err(unsafe_path(PathProblem::WindowsDrive));
    }
    if components.len() as u64 > limits.max_path_depth {
        return Err(Error::Limit {
            limit: LimitKind::PathDepth,
            value: limits.max_path_depth,
            seen: components.len() as u64,
            entry: Some(lossy()),
        });
    }
    Ok(RelativePath { components })
}

/// What an extraction has created so far, by relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// A directory; `explicit` when an entry named it (not only created as a parent).
    Dir {
        explicit: bool,
    },
    File,
    Symlink(String),
}

/// The in-memory model of the extracted tree. Every decision about links and parents is
/// taken against it, so nothing on disk is trusted, and a link planted by an earlier entry
/// is never followed by a later one.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    nodes: HashMap<Vec<String>, Node>,
}

/// How many links one resolution may pass through.
const MAX_LINK_HOPS: usize = 32;

impl Tree {
    pub(crate) fn get(&self, path: &RelativePath) -> Option<&Node> {
        self.nodes.get(&path.components)
    }

    pub(crate) fn insert(&mut self, path: &RelativePath, node: Node) {
        self.nodes.insert(path.components.clone(), node);
    }

    /// The parents of `path` that do not exist yet (outermost first), or the first parent
    /// that is not a directory.
    pub(crate) fn missing_parents(&self, path: &RelativePath) -> Result<Vec<RelativePath>, String> {
        let mut missing = Vec::new();
        for prefix in path.parent_prefixes() {
            match self.nodes.get(prefix) {
                Some(Node::Dir { .. }) => {}
                Some(Node::File | Node::Symlink(_)) => return Err(prefix.join("/")),
                None => missing.push(RelativePath {
                    components: prefix.to_vec(),
                }),
            }
        }
        Ok(missing)
    }

    /// Checks that a symbolic link at `link` with `target` stays inside the root, now and
    /// whatever later entries do.
    ///
    /// The target is resolved against the tree: a component that is a link is replaced by
    /// that link's target; `..` may only leave a component that is a directory already
    /// created (directories can never later become links, so a `..` decided now stays
    /// decided); an unknown component may later become a link, but every link is itself
    /// checked to resolve inside, and nothing but plain names follow it.
    pub(crate) fn check_symlink(&self, link: &RelativePath, target: &str) -> Result<(), ()> {
        if target.is_empty()
            || target.starts_with('/')
            || target.contains('\\')
            || target.contains('\0')
            || (target.len() >= 2
                && target.as_bytes()[0].is_ascii_alphabetic()
                && target.as_bytes()[1] == b':')
        {
            return Err(());
        }
        let mut stack: Vec<String> = link.components[..link.components.len() - 1].to_vec();
        let mut hops = 0;
        self.resolve(&mut stack, target, &mut hops)
    }

    fn resolve(&self, stack: &mut Vec<String>, target: &str, hops: &mut usize) -> Result<(), ()> {
        if target.starts_with('/') {
            return Err(());
        }
        for part in target.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if !matches!(self.nodes.get(stack.as_slice()), Some(Node::Dir { .. })) {
                        return Err(());
                    }
                    stack.pop();
                }
                name => {
                    stack.push(name.to_owned());
                    if let Some(Node::Symlink(next)) = self.nodes.get(stack.as_slice()) {
                        // The final component may be a link to a link: it is followed
                        // too, so that a chain ending outside is refused.
                        *hops += 1;
                        if *hops > MAX_LINK_HOPS {
                            return Err(());
                        }
                        stack.pop();
                        let next = next.clone();
                        self.resolve(stack, &next, hops)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks a hard link's target: a regular file this extraction created, reached
    /// through directories only.
    pub(crate) fn check_hardlink(&self, target: &RelativePath) -> Result<(), ()> {
        if target.is_root() || self.missing_parents(target).map_or(true, |m| !m.is_empty()) {
            return Err(());
        }
        match self.get(target) {
            Some(Node::File) => Ok(()),
            _ => Err(()),
        }
    }
}

pub(crate) fn link_error(path: &RelativePath, kind: LinkKind, target: &str) -> Error {
    Error::LinkEscapes {
        path: path.as_string(),
        kind,
        target: target.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelativePath {
        check_path(s.as_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn path_spellings() {
        let refused: &[(&str, PathProblem)] = &[
            ("/etc/passwd", PathProblem::Absolute),
            ("//server/share", PathProblem::Absolute),
            ("../x", PathProblem::ParentDir),
            ("a/../../x", PathProblem::ParentDir),
            ("a/..", PathProblem::ParentDir),
            ("./..", PathProblem::ParentDir),
            ("..", PathProblem::ParentDir),
            ("C:\\Windows\\system32", PathProblem::WindowsDrive),
            ("c:/x", PathProblem::WindowsDrive),
            ("C:x", PathProblem::WindowsDrive),
            ("./C:x", PathProblem::WindowsDrive),
            ("\\\\server\\share\\x", PathProblem::Backslash),
            ("\\x", PathProblem::Absolute),
            ("a\\..\\..\\x", PathProblem::Backslash),
            ("a\0b", PathProblem::Nul),
        ];
        assert_eq!(refused.len(), 15);
        for (input, problem) in refused {
            match check_path(input.as_bytes(), &Limits::default()) {
                Err(Error::UnsafePath { problem: seen, .. }) => {
                    assert_eq!(seen, *problem, "{input:?}");
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
        match check_path(b"a/\xff", &Limits::default()) {
            Err(Error::UnsafePath { problem, .. }) => assert_eq!(problem, PathProblem::NotUtf8),
            other => panic!("{other:?}"),
        }
        assert_eq!(p("./a//b/").as_string(), "a/b");
        assert!(p("./").is_root());
        assert!(p(".").is_root());
        assert_eq!(p("a..b/..c").as_string(), "a..b/..c");
    }

    #[test]
    fn path_limits() {
        let limits = Limits {
            max_path_depth: 2,
            max_path_length: 10,
            ..Limits::default()
        };
        assert!(check_path(b"a/b", &limits).is_ok());
        assert!(matches!(
            check_path(b"a/b/c", &limits),
            Err(Error::Limit {
                limit: LimitKind::PathDepth,
                value: 2,
                seen: 3,
                ..
            })
        ));
        assert!(matches!(
            check_path(b"abcdefghijk", &limits),
            Err(Error::Limit {
                limit: LimitKind::PathLength,
                value: 10,
                seen: 11,
                ..
            })
        ));
    }

    #[test]
    fn symlink_resolution() {
        let mut tree = Tree::default();
        tree.insert(&p("a"), Node::Dir { explicit: true });
        tree.insert(&p("a/b"), Node::Dir { explicit: true });
        tree.insert(&p("a/dot"), Node::Symlink(".".into()));
        tree.insert(&p("up"), Node::Symlink("a/b/..".into()));
        let cases: &[(&str, &str, bool)] = &[
            ("x", "a/b", true),
            ("a/x", "b/../..", true),
            ("a/x", "../..", false),
            ("x", "/etc/passwd", false),
            ("x", "..", false),
            ("x", "unknown/..", false),
            ("a/x", "dot/../..", false),
            ("x", "a/dot/..", true),
            ("x", "a/dot/../..", false),
            ("x", "up/..", true),
            ("x", "up/../..", false),
            ("x", "C:\\x", false),
            ("x", "", false),
            ("x", "later/deeper", true),
        ];
        assert_eq!(cases.len(), 14);
        for (link, target, ok) in cases {
            assert_eq!(
                tree.check_symlink(&p(link), target).is_ok(),
                *ok,
                "{link} -> {target}"
            );
        }
        tree.insert(&p("loop1"), Node::Symlink("loop2".into()));
        tree.insert(&p("loop2"), Node::Symlink("loop1".into()));
        assert!(tree.check_symlink(&p("x"), "loop1").is_err());
    }

    #[test]
    fn parents_and_hardlinks() {
        let mut tree = Tree::default();
        tree.insert(&p("d"), Node::Dir { explicit: true });
        tree.insert(&p("d/f"), Node::File);
        tree.insert(&p("l"), Node::Symlink("d".into()));
        assert_eq!(tree.missing_parents(&p("d/x/y")).unwrap(), vec![p("d/x")]);
        assert_eq!(tree.missing_parents(&p("l/x")).unwrap_err(), "l");
        assert_eq!(tree.missing_parents(&p("d/f/x")).unwrap_err(), "d/f");
        assert!(tree.check_hardlink(&p("d/f")).is_ok());
        assert!(tree.check_hardlink(&p("l/f")).is_err());
        assert!(tree.check_hardlink(&p("d")).is_err());
        assert!(tree.check_hardlink(&p("nope")).is_err());
    }

    proptest::proptest! {
        #[test]
        fn accepted_paths_stay_inside_and_round_trip(input in "[a.b/\\\\:\\x00C]{0,24}") {
            if let Ok(path) = check_path(input.as_bytes(), &Limits::default()) {
                for component in path.components() {
                    proptest::prop_assert!(!component.is_empty());
                    proptest::prop_assert!(component != "." && component != "..");
                    proptest::prop_assert!(!component.contains(['/', '\\', '\0']));
                }
                proptest::prop_assert!(!input.starts_with('/'));
                let again = check_path(path.as_string().as_bytes(), &Limits::default()).unwrap();
                proptest::prop_assert_eq!(again, path);
            }
        }
    }
}
