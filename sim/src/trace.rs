//! The trace hash: a fixed 64-bit FNV-1a over everything a run did, in
//! order — each `(mono, now, input, result, outputs)`, each crash and
//! restart, and the final dump. Same seed, same hash, on every machine:
//! nothing here depends on `std`'s randomly keyed hashers or on addresses.

use std::fmt;

const OFFSET_BASIS: u64 = 0xCBF2_9CE4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01B3;

/// FNV-1a, 64 bits, fed through [`fmt::Write`] so any `Debug` value can be
/// hashed without building its string first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHash {
    state: u64,
}

impl Default for TraceHash {
    fn default() -> Self {
        Self { state: OFFSET_BASIS }
    }
}

impl TraceHash {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.state ^= u64::from(*b);
            self.state = self.state.wrapping_mul(PRIME);
        }
    }

    /// Adds one record: its `Debug` form, then a separator so that
    /// `("ab", "c")` and `("a", "bc")` hash differently.
    pub fn record(&mut self, item: &dyn fmt::Debug) {
        use fmt::Write as _;
        // Writing into the hasher never fails.
        let _ = write!(self, "{item:?}");
        self.bytes(&[0x1E]);
    }

    /// The hash so far.
    pub fn value(&self) -> u64 {
        self.state
    }
}

impl fmt::Write for TraceHash {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

/// Folds per-seed hashes, in seed order, into the hash of a whole run.
pub fn combine(hashes: impl IntoIterator<Item = u64>) -> u64 {
    let mut t = TraceHash::new();
    for h in hashes {
        t.bytes(&h.to_le_bytes());
    }
    t.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_values() {
        // Published FNV-1a 64 test vectors.
        let mut t = TraceHash::new();
        assert_eq!(t.value(), 0xCBF2_9CE4_8422_2325);
        t.bytes(b"a");
        assert_eq!(t.value(), 0xAF63_DC4C_8601_EC8C);
        let mut foobar = TraceHash::new();
        foobar.bytes(b"foobar");
        assert_eq!(foobar.value(), 0x8594_4171_F739_67E8);
    }

    #[test]
    fn records_are_separated_and_ordered() {
        let hash = |items: &[&str]| {
            let mut t = TraceHash::new();
            for i in items {
                t.record(i);
            }
            t.value()
        };
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        assert_ne!(hash(&["a", "b"]), hash(&["b", "a"]));
        assert_eq!(hash(&["a", "b"]), hash(&["a", "b"]));
        assert_ne!(combine([1, 2]), combine([2, 1]));
    }
}
