//! Places shared by key, so that one key cannot hold them all: at most `per_key` at once for
//! each key (a board, a client's address). A [`Share`] gives its place back when dropped.
//! Knows nothing of what the places are for.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

pub struct Shares<K: Hash + Eq + Clone> {
    per_key: usize,
    held: Mutex<HashMap<K, usize>>,
}

/// One place held by `key`, until dropped.
pub struct Share<K: Hash + Eq + Clone> {
    shares: Arc<Shares<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Shares<K> {
    pub fn new(per_key: usize) -> Arc<Shares<K>> {
        Arc::new(Shares {
            per_key: per_key.max(1),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// How many places one key may hold.
    pub fn per_key(&self) -> usize {
        self.per_key
    }

    /// A place for `key`, when it holds fewer than its share.
    pub fn try_take(self: &Arc<Self>, key: K) -> Option<Share<K>> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= self.per_key {
            return None;
        }
        *count += 1;
        Some(Share {
            shares: Arc::clone(self),
            key,
        })
    }
}

impl<K: Hash + Eq + Clone> Drop for Share<K> {
    fn drop(&mut self) {
        let mut held = self.shares.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_its_share_and_gives_it_back() {
        let shares = Shares::new(2);
        let a1 = shares.try_take("a").unwrap();
        let _a2 = shares.try_take("a").unwrap();
        assert!(shares.try_take("a").is_none());
        let _b = shares.try_take("b").unwrap();
        drop(a1);
        assert!(shares.try_take("a").is_some());
        assert!(shares.held.lock().unwrap().get("b") == Some(&1));
    }
}
