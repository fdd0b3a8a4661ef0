//! Limits and safe, atomic extraction of tar and tar+gzip layers; ORAS-compatible folder packing.
