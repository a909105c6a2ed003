//! A PPP link's randomness (Magic-Numbers, RFC 1661 §6.4; CHAP challenges,
//! RFC 1994 §2.3, which must be unpredictable) in 24 bytes, where a
//! generator keeps 320: a 128-bit key, drawn once from the engine's
//! generator, and a counter. Each draw is the first block of a ChaCha
//! stream keyed by the key and the counter, so draws are as unpredictable
//! as the engine's generator, and seeded ones repeat for tests and the
//! simulator. A link draws a handful of times in its life; the key
//! schedule on each costs less than keeping a generator per session
//! (issue 18: memory per session).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct LinkRng {
    key: [u8; 16],
    n: u64,
}

impl LinkRng {
    /// The randomness of a link seeded with `seed` (the engine draws the
    /// seeds from its own generator).
    pub fn seed_from_u64(seed: u64) -> LinkRng {
        let mut key = [0u8; 16];
        StdRng::seed_from_u64(seed).fill_bytes(&mut key);
        LinkRng { key, n: 0 }
    }

    fn stream(&mut self) -> StdRng {
        let mut s = [0u8; 32];
        s[..16].copy_from_slice(&self.key);
        s[16..24].copy_from_slice(&self.n.to_le_bytes());
        self.n += 1;
        StdRng::from_seed(s)
    }

    /// 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.stream().next_u32()
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.stream().next_u64()
    }

    /// Fills `b`.
    pub fn fill_bytes(&mut self, b: &mut [u8]) {
        self.stream().fill_bytes(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_differ_and_seeds_repeat() {
        let (mut a, mut b) = (LinkRng::seed_from_u64(7), LinkRng::seed_from_u64(7));
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        let mut sorted = xs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4, "every draw is new: {xs:?}");
        assert_ne!(
            LinkRng::seed_from_u64(8).next_u64(),
            LinkRng::seed_from_u64(7).next_u64()
        );
        let mut c = [0u8; 16];
        a.fill_bytes(&mut c);
        assert!(c.iter().any(|&x| x != 0));
        assert!(std::mem::size_of::<LinkRng>() <= 24);
    }
}
