//! A small seeded generator (splitmix64) for the random inputs of differential tests and benchmarks:
//! the same seed gives the same input on every machine, so a failure is replayed from the seed alone.
#![allow(dead_code)]

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// An integer in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.index(hi - lo + 1)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// A random subset of `xs` of size `lo..=hi` (order kept, no repeats).
    pub fn subset<T: Clone>(&mut self, xs: &[T], lo: usize, hi: usize) -> Vec<T> {
        let n = self.range(lo, hi.min(xs.len()));
        let mut idx: Vec<usize> = (0..xs.len()).collect();
        for i in (1..idx.len()).rev() {
            let j = self.index(i + 1);
            idx.swap(i, j);
        }
        let mut chosen: Vec<usize> = idx.into_iter().take(n).collect();
        chosen.sort_unstable();
        chosen.into_iter().map(|i| xs[i].clone()).collect()
    }

    /// A seed for a sub-generator (one per cluster, so a cluster is replayed from its own seed).
    pub fn fork(&mut self) -> u64 {
        self.next()
    }
}

/// A number from the environment (a seed, a case count), decimal or `0x` hex; `None` when unset.
pub fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    Some(match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{name}={v}: {e}")),
        None => v.parse().unwrap_or_else(|e| panic!("{name}={v}: {e}")),
    })
}
