//! Places shared by key, so that no key, nor two, can hold them all (a board, a client's
//! address). A [`Share`] gives its place back when dropped. Knows nothing of what the places
//! are for.
//!
//! The rule: a key holds at most half, rounded up, of the places the other keys leave it.
//! Alone, a key holds half of `total` (8 of 16); once others hold places, half of what they
//! left. Keys that ask in turn settle at about `total / (keys + 1)` each, and a key that
//! already holds a place never takes the last free one: that is left for a key that holds
//! none, which takes any free place. So keys are not trusted to be few: whoever makes boards
//! at will needs about log2(`total`) of them, each asking in turn, to hold every place, where
//! a fixed half let two do it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

pub struct Shares<K: Hash + Eq + Clone> {
    total: usize,
    held: Mutex<Held<K>>,
}

struct Held<K> {
    by_key: HashMap<K, usize>,
    /// The sum of `by_key`.
    all: usize,
}

/// One place held by `key`, until dropped.
pub struct Share<K: Hash + Eq + Clone> {
    shares: Arc<Shares<K>>,
    key: K,
}

/// The most a key may hold while the other keys hold `others` of `total` places: half,
/// rounded up, of what they leave.
fn share_of(total: usize, others: usize) -> usize {
    total.saturating_sub(others).div_ceil(2)
}

impl<K: Hash + Eq + Clone> Shares<K> {
    /// `total` places (at least one) shared by the keys.
    pub fn new(total: usize) -> Arc<Shares<K>> {
        Arc::new(Shares {
            total: total.max(1),
            held: Mutex::new(Held {
                by_key: HashMap::new(),
                all: 0,
            }),
        })
    }

    /// A place for `key`, when it holds fewer than its share; else `Err` with its share now
    /// (what it may hold while the others hold what they do).
    pub fn try_take(self: &Arc<Self>, key: K) -> Result<Share<K>, usize> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mine = held.by_key.get(&key).copied().unwrap_or(0);
        let share = share_of(self.total, held.all - mine);
        if mine >= share {
            return Err(share);
        }
        held.by_key.insert(key.clone(), mine + 1);
        held.all += 1;
        Ok(Share {
            shares: Arc::clone(self),
            key,
        })
    }
}

impl<K: Hash + Eq + Clone> Drop for Share<K> {
    fn drop(&mut self) {
        let mut held = self.shares.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.by_key.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.by_key.remove(&self.key);
            }
            held.all = held.all.saturating_sub(1);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Every place `key` can take now, kept.
    fn fill(shares: &Arc<Shares<&'static str>>, key: &'static str) -> Vec<Share<&'static str>> {
        std::iter::from_fn(|| shares.try_take(key).ok()).collect()
    }

    #[test]
    fn a_key_holds_at_most_its_share_and_gives_it_back() {
        let shares = Shares::new(4);
        let a1 = shares.try_take("a").ok().unwrap();
        let _a2 = shares.try_take("a").ok().unwrap();
        // Alone, half of 4; then half of the 2 "a" leaves.
        assert_eq!(shares.try_take("a").err(), Some(2));
        let _b = shares.try_take("b").ok().unwrap();
        assert_eq!(shares.try_take("b").err(), Some(1));
        drop(a1);
        let _a3 = shares.try_take("a").ok().unwrap();
        let held = shares.held.lock().unwrap();
        assert_eq!(held.by_key.get("b"), Some(&1));
        assert_eq!(held.all, 3);
    }

    /// Keys taking all they can, one after the other: each holds half of what the others
    /// left, so two never hold every place, and a key that holds none takes the last one.
    #[test]
    fn each_key_holds_half_of_what_the_others_leave() {
        let shares = Shares::new(16);
        let held: Vec<_> = ["a", "b", "c", "d", "e", "f"]
            .into_iter()
            .map(|key| fill(&shares, key))
            .collect();
        let counts: Vec<usize> = held.iter().map(Vec::len).collect();
        assert_eq!(counts, [8, 4, 2, 1, 1, 0]);
        for total in 1..=64 {
            let shares = Shares::new(total);
            let a = fill(&shares, "a");
            assert_eq!(a.len(), total.div_ceil(2), "{total}");
            let b = fill(&shares, "b");
            if total >= 4 {
                assert!(
                    shares.try_take("c").is_ok(),
                    "{total}: {} {}",
                    a.len(),
                    b.len()
                );
            }
        }
    }

    /// Keys asking in turn settle at about a fair share each, one place left for a newcomer;
    /// a key that holds places never takes the last free one.
    #[test]
    fn keys_asking_in_turn_share_fairly_and_leave_the_last_place() {
        let shares = Shares::new(16);
        let mut held = Vec::new();
        loop {
            let before = held.len();
            for key in ["a", "b", "c"] {
                if let Ok(share) = shares.try_take(key) {
                    held.push(share);
                }
            }
            if held.len() == before {
                break;
            }
        }
        let count = |key| held.iter().filter(|s| s.key == key).count();
        assert_eq!((count("a"), count("b"), count("c")), (4, 4, 4));
        // 4 left free: each of a, b, c may hold half of the 8 the others leave, no more.
        assert_eq!(shares.try_take("a").err(), Some(4));
        let mut newcomers: Vec<_> = (0..4).map(|_| shares.try_take("d").ok()).collect();
        // "d" holds 2 (half of the 4 left); "e" takes one of the 2 left, then "f" the last.
        assert_eq!(newcomers.iter().filter(|s| s.is_some()).count(), 2);
        let e = shares.try_take("e").ok().unwrap();
        assert_eq!(shares.try_take("e").err(), Some(1));
        assert_eq!(shares.try_take("a").err(), Some(3));
        let _f = shares.try_take("f").ok().unwrap();
        assert_eq!(shares.try_take("g").err(), Some(0));
        drop(e);
        newcomers.clear();
        assert_eq!(shares.held.lock().unwrap().all, 13);
    }
}
