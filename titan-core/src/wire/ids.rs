//! Maps keyed by call id, with a cheap hash: a multiply and a shift instead of
//! SipHash. Ids come from the peer, so a hostile one could aim for collisions;
//! the maps hold at most a connection's calls in flight, which bounds the harm.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::CallId;

/// A hasher for `u64` keys: Fibonacci hashing.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // The high bits pick the control byte, the low bits the bucket: fold
        // the product's high half down so both are spread.
        let product = (n ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = product ^ (product >> 32);
    }
}

/// A map keyed by call id.
pub(crate) type CallMap<V> = HashMap<CallId, V, BuildHasherDefault<IdHasher>>;

/// A set of call ids.
pub(crate) type CallSet = HashSet<CallId, BuildHasherDefault<IdHasher>>;
