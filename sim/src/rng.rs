//! The simulator's own random numbers: SplitMix64, seeded from the run's
//! seed. Every choice the workload, the swarm and the faults make comes from
//! here, so a seed names one run on every machine and in every build
//! (madsim's own generator only decides task interleavings).

/// A small, fast, deterministic generator (SplitMix64).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator for `seed`, on a stream named by `stream` so the
    /// workload, the faults and the summarizer draw independently: adding a
    /// draw to one never shifts the others.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Self {
            state: seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F),
        };
        // Decorrelate neighbouring seeds before the first real draw.
        rng.next_u64();
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }

    /// Uniform in `[lo, hi)` for signed values.
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo);
        lo.wrapping_add_unsigned(self.next_u64() % span)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.next_u64() % 1000 < u64::from(per_mille)
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.range(0, items.len() as u64);
        &items[usize::try_from(i).unwrap_or(0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42, 1);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42, 1);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        let mut other = Rng::new(42, 2);
        assert_ne!(a[0], other.next_u64(), "streams are independent");
        let mut next_seed = Rng::new(43, 1);
        assert_ne!(a[0], next_seed.next_u64(), "seeds differ");
    }

    #[test]
    fn ranges_stay_inside_and_cover() {
        let mut r = Rng::new(7, 0);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let x = r.range(10, 15);
            assert!((10..15).contains(&x));
            seen[usize::try_from(x - 10).unwrap()] = true;
            let y = r.range_i64(-3, 2);
            assert!((-3..2).contains(&y));
        }
        assert!(seen.iter().all(|s| *s), "every value is reachable");
        assert_eq!(r.range(5, 5), 5);
        let hits = (0..10_000).filter(|_| r.chance(100)).count();
        assert!((800..1200).contains(&hits), "10% chance gave {hits}/10000");
    }
}
