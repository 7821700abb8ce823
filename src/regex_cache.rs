//! Compiled regular expressions by their text, shared by every evaluation in the process.
//!
//! Relabel rules, Cilium HTTP rules and their like repeat a few patterns across thousands of objects,
//! and an evaluation met each once per monitor, workload or target: compiling them took about 15% of
//! a 150,000-pod evaluation. A compiled expression depends only on its text, so one copy per text
//! serves every caller. The cache is bounded: past [`CAPACITY`] texts it starts again empty, so an
//! operator that sees policies come and go for months holds at most that many.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Texts held at most, per cache.
pub const CAPACITY: usize = 4096;

/// A cache of compiled values (`Ok`, or the compile error, which is as much a result) by key.
pub struct Cache<K, T> {
    map: Mutex<Option<HashMap<K, T>>>,
}

impl<K: Hash + Eq, T: Clone> Cache<K, T> {
    pub const fn new() -> Self {
        Cache {
            map: Mutex::new(None),
        }
    }

    /// The value compiled from `key`, compiling it (outside the lock) the first time.
    pub fn get_or_compile<Q>(&self, key: &Q, compile: impl FnOnce(&Q) -> T) -> T
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(found) = self.lock().as_ref().and_then(|m| m.get(key)) {
            return found.clone();
        }
        let value = compile(key);
        let mut guard = self.lock();
        let map = guard.get_or_insert_with(HashMap::new);
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(key.to_owned(), value.clone());
        value
    }

    /// How many values the cache holds.
    pub fn len(&self) -> usize {
        self.lock().as_ref().map_or(0, HashMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while the lock was held cannot leave the map half-written (insert and clear are whole
    // operations), so a poisoned lock is still a sound cache.
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashMap<K, T>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: Hash + Eq, T: Clone> Default for Cache<K, T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_once_per_text_and_keeps_errors() {
        let cache: Cache<String, Result<usize, String>> = Cache::new();
        let mut calls = 0;
        let mut get = |s: &str| {
            cache.get_or_compile(s, |s: &str| {
                calls += 1;
                if s.is_empty() {
                    Err("empty".to_string())
                } else {
                    Ok(s.len())
                }
            })
        };
        assert_eq!(get("abc"), Ok(3));
        assert_eq!(get("abc"), Ok(3));
        assert_eq!(get(""), Err("empty".to_string()));
        assert_eq!(get(""), Err("empty".to_string()));
        assert_eq!(calls, 2);
    }

    #[test]
    fn starts_again_past_its_capacity() {
        let cache: Cache<String, usize> = Cache::new();
        for i in 0..CAPACITY {
            cache.get_or_compile(i.to_string().as_str(), |s: &str| s.len());
        }
        assert_eq!(cache.len(), CAPACITY);
        cache.get_or_compile("one more", |s: &str| s.len());
        assert_eq!(cache.len(), 1);
        // What it held is compiled again when asked for, with the same result.
        assert_eq!(cache.get_or_compile("1", |s: &str| s.len()), 1);
        assert_eq!(cache.len(), 2);
    }
}
