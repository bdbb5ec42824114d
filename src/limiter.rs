//! A keyed GCRA rate limiter with bounded memory, keyed on client addresses
//! ([`crate::client_addr::client_key`]: IPv4 address, IPv6 /64).
//!
//! At most `capacity` clients are remembered. A client whose bucket has refilled is the
//! same as one never seen, so it is dropped first; if a flood of distinct addresses keeps
//! every bucket busy, arbitrary ones are forgotten (they get a fresh budget: a flood from
//! more addresses than `capacity` weakens the limit for some clients, never blocks
//! everyone, and never grows memory).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::client_addr::client_key;

const SHARDS: usize = 16;

/// A keyed GCRA limiter with bounded memory.
pub struct Limiter {
    shards: Vec<Mutex<HashMap<IpAddr, u64>>>,
    hasher: std::collections::hash_map::RandomState,
    start: Instant,
    /// Nanoseconds one request costs.
    emission_ns: u64,
    /// How far ahead of now a bucket may run: (burst - 1) requests.
    tolerance_ns: u64,
    max_per_shard: usize,
}

impl Limiter {
    /// `per_minute` sustained, `burst` at once, at most `capacity` clients remembered.
    pub fn new(per_minute: u32, burst: u32, capacity: usize) -> Limiter {
        let emission_ns = 60_000_000_000 / u64::from(per_minute.max(1));
        Limiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
            start: Instant::now(),
            emission_ns,
            tolerance_ns: emission_ns.saturating_mul(u64::from(burst.max(1)) - 1),
            max_per_shard: (capacity / SHARDS).max(16),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &IpAddr) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u64>> {
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `addr` has budget left, without spending it.
    pub fn peek(&self, addr: IpAddr) -> bool {
        let key = client_key(addr);
        let now = self.now_ns();
        let map = self.shard(&key);
        map.get(&key)
            .is_none_or(|tat| *tat <= now + self.tolerance_ns)
    }

    /// Spends one request of `addr`'s budget (keyed on [`client_key`]); false when over it.
    pub fn check(&self, addr: IpAddr) -> bool {
        self.check_at(client_key(addr), self.now_ns())
    }

    fn check_at(&self, key: IpAddr, now: u64) -> bool {
        let mut map = self.shard(&key);
        let tat = map.get(&key).copied().unwrap_or(now).max(now);
        if tat - now > self.tolerance_ns {
            return false;
        }
        if !map.contains_key(&key) && map.len() >= self.max_per_shard {
            self.make_room(&mut map, now);
        }
        map.insert(key, tat + self.emission_ns);
        true
    }

    /// Drops refilled buckets; if a flood keeps most buckets busy, forgets arbitrary ones
    /// down to half (amortized: the next full scan is half a shard of inserts away).
    fn make_room(&self, map: &mut HashMap<IpAddr, u64>, now: u64) {
        map.retain(|_, tat| *tat > now);
        if map.len() >= self.max_per_shard * 3 / 4 {
            let excess = map.len() - self.max_per_shard / 2;
            let victims: Vec<IpAddr> = map.keys().take(excess).copied().collect();
            for k in victims {
                map.remove(&k);
            }
        }
    }

    /// Drops every refilled bucket (the maintenance task calls it).
    pub fn sweep(&self) {
        self.sweep_at(self.now_ns())
    }

    fn sweep_at(&self, now: u64) {
        for s in &self.shards {
            s.lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, tat| *tat > now);
        }
    }

    /// Clients remembered now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = Limiter::new(60, 3, 1000);
        let k = IpAddr::from([203, 0, 113, 9]);
        let t0 = 1_000_000_000_000;
        assert!(l.check_at(k, t0));
        assert!(l.check_at(k, t0));
        assert!(l.check_at(k, t0));
        assert!(!l.check_at(k, t0), "the burst is 3");
        assert!(!l.check_at(k, t0 + 500_000_000));
        assert!(l.check_at(k, t0 + 1_000_000_000), "one a second");
        assert!(
            l.check_at(IpAddr::from([203, 0, 113, 10]), t0),
            "others are apart"
        );
    }

    #[test]
    fn a_million_distinct_clients_stay_bounded() {
        let cap = 10_000;
        let l = Limiter::new(120, 30, cap);
        let t0 = 1_000_000_000_000;
        for i in 0..1_000_000u32 {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            assert!(
                l.check_at(ip, t0 + u64::from(i)),
                "a new client has its burst"
            );
            if i % 50_000 == 0 {
                assert!(l.len() <= cap, "{} remembered", l.len());
            }
        }
        assert!(l.len() <= cap, "{} remembered", l.len());
        // The same for IPv6: a million addresses in one /64 are one client.
        let l = Limiter::new(120, 30, cap);
        let mut admitted = 0;
        for i in 0..1_000_000u128 {
            let ip = IpAddr::from(((0x2001_0db8u128 << 96) | i).to_be_bytes());
            if l.check(ip) {
                admitted += 1;
            }
        }
        assert_eq!(l.len(), 1);
        assert!(admitted < 100, "{admitted} admitted from one /64");
    }

    #[test]
    fn refilled_buckets_are_forgotten_and_busy_ones_kept() {
        let l = Limiter::new(60, 2, 10_000);
        let t0 = 1_000_000_000_000;
        for i in 0..1000u32 {
            l.check_at(IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()), t0);
        }
        let t1 = t0 + 60_000_000_000;
        let busy = IpAddr::from([198, 51, 100, 1]);
        assert!(l.check_at(busy, t1));
        assert!(l.check_at(busy, t1));
        l.sweep_at(t1);
        assert_eq!(l.len(), 1, "only the busy client is remembered");
        assert!(!l.check_at(busy, t1), "and still limited");
    }
}
