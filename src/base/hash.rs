//! A stable hash for values that must agree across processes, runs and machines (file names of
//! generated descriptors, per-parameter seeds of random weights), unlike std's randomised one.

/// 64-bit FNV-1a.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}
