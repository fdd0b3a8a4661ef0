//! The `orca` command line: ORAS-style login, push, pull, copy, tag, discover and more.
