//! Failure limits for pass-through authentication (architecture §6): too many wrong
//! passwords for one username, or from one source address, within a window get 429
//! until the window passes — without locking out anyone else. Per replica, in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct FailureLimits {
    failures: Mutex<HashMap<String, (Instant, u32)>>,
    pub window: Duration,
    pub per_username: u32,
    pub per_address: u32,
}

impl FailureLimits {
    pub fn new(window: Duration, per_username: u32, per_address: u32) -> Self {
        FailureLimits {
            failures: Mutex::new(HashMap::new()),
            window,
            per_username,
            per_address,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `username` (already lower-case, with its tenant) or `address` is over
    /// its limit.
    pub fn blocked(&self, username: &str, address: &str) -> bool {
        self.retry_after(username, address).is_some()
    }

    /// Seconds until `username` and `address` are both under their limits again, when
    /// either is over.
    pub fn retry_after(&self, username: &str, address: &str) -> Option<u64> {
        let map = self.lock();
        [
            (format!("u:{username}"), self.per_username),
            (format!("a:{address}"), self.per_address),
        ]
        .iter()
        .filter_map(|(key, limit)| match map.get(key) {
            Some((since, n)) if *n >= *limit && since.elapsed() < self.window => {
                Some((self.window - since.elapsed()).as_secs() + 1)
            }
            _ => None,
        })
        .max()
    }

    pub fn failed(&self, username: &str, address: &str) {
        let mut map = self.lock();
        let window = self.window;
        for key in [format!("u:{username}"), format!("a:{address}")] {
            let e = map.entry(key).or_insert((Instant::now(), 0));
            if e.0.elapsed() >= window {
                *e = (Instant::now(), 0);
            }
            e.1 += 1;
        }
        if map.len() > 100_000 {
            map.retain(|_, (since, _)| since.elapsed() < window);
        }
    }

    /// A right password clears the username's count (not the address's).
    pub fn succeeded(&self, username: &str) {
        self.lock().remove(&format!("u:{username}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_is_blocked_after_its_limit_and_others_are_not() {
        let l = FailureLimits::new(Duration::from_secs(60), 3, 100);
        for _ in 0..3 {
            assert!(!l.blocked("t:alice", "10.0.0.1"));
            l.failed("t:alice", "10.0.0.1");
        }
        assert!(l.blocked("t:alice", "10.0.0.2"), "from any address");
        assert!(!l.blocked("t:bob", "10.0.0.3"));
        l.succeeded("t:alice");
        assert!(!l.blocked("t:alice", "10.0.0.2"));
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_and_the_window_lets_go() {
        let l = FailureLimits::new(Duration::from_millis(50), 100, 2);
        l.failed("t:a", "10.0.0.9");
        l.failed("t:b", "10.0.0.9");
        assert!(l.blocked("t:c", "10.0.0.9"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!l.blocked("t:c", "10.0.0.9"));
    }
}
