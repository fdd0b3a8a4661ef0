//! Helpers shared by orca's criterion benchmarks (see `benches/`).

/// Deterministic pseudo-random bytes, so that every run hashes the same input.
///
/// A xorshift generator: fast enough that generating input never dominates a benchmark,
/// and not compressible, unlike zeros.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_are_deterministic_and_sized() {
        let a = super::pseudo_random_bytes(1001, 7);
        assert_eq!(a.len(), 1001);
        assert_eq!(a, super::pseudo_random_bytes(1001, 7));
        assert_ne!(a, super::pseudo_random_bytes(1001, 8));
    }
}
