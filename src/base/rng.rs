//! The project's one random generator: seedable and identical on every machine, so synthetic
//! sequences and training samples can be reproduced anywhere.

/// A small, seedable PCG32 generator, so sequences are identical on every machine.
#[derive(Debug, Clone)]
pub struct Pcg(u64);

impl Pcg {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        let mut p = Pcg(seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
        p.next_u32();
        p
    }
    /// Next 32 random bits.
    pub(crate) fn next_u32(&mut self) -> u32 {
        let old = self.0;
        self.0 = old.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        xorshifted.rotate_right((old >> 59) as u32)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.next_u32() as f64 / 4294967296.0
    }
    /// Uniform in [a, b).
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.uniform()
    }
}
