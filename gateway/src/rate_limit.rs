//! The per-address join rate limit: a GCRA cell per client address (`governor`), in memory.

use std::{cell::Cell, net::IpAddr, num::NonZeroU32};

use governor::{DefaultKeyedRateLimiter, Quota};

/// Limiters, each with its own lock, an address's last byte choosing one: joins from
/// different addresses on different threads rarely wait for each other.
const SHARDS: usize = 16;

/// Addresses one shard remembers before those whose allowance has refilled are forgotten.
const MAX_TRACKED_PER_SHARD: usize = 16_384;

/// How many checks a thread makes between two looks at the shards' sizes.
const CHECKS_PER_LOOK: u32 = 1024;

thread_local! {
    /// Checks this thread made (per thread, so the join path shares no counter between
    /// threads).
    static CHECKS: Cell<u32> = const { Cell::new(0) };
}

/// `rate` joins per second per address with a burst of `rate`; `rate` 0 is off.
#[derive(Debug)]
pub struct RateLimiter {
    /// Empty when off.
    shards: Vec<DefaultKeyedRateLimiter<IpAddr>>,
    /// A refused join may go again within one replenish interval (`1 / rate`): the wait
    /// is that interval rounded up to whole seconds, known without reading the clock again.
    retry_after_secs: u64,
}

impl RateLimiter {
    pub fn new(rate_per_second: u32) -> Self {
        let quota = NonZeroU32::new(rate_per_second).map(Quota::per_second);
        Self {
            retry_after_secs: quota.map_or(1, |q| {
                (q.replenish_interval().as_secs_f64().ceil() as u64).max(1)
            }),
            shards: quota
                .map(|quota| {
                    (0..SHARDS)
                        .map(|_| DefaultKeyedRateLimiter::keyed(quota))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// `Ok` when `addr` may go on, else the seconds to wait (at least 1).
    pub fn check(&self, addr: IpAddr) -> Result<(), u64> {
        let last_byte = match addr {
            IpAddr::V4(a) => a.octets()[3],
            IpAddr::V6(a) => a.octets()[15],
        };
        let Some(limiter) = self.shards.get(usize::from(last_byte) % SHARDS) else {
            return Ok(());
        };
        let checks = CHECKS.get().wrapping_add(1);
        CHECKS.set(checks);
        if checks.is_multiple_of(CHECKS_PER_LOOK) {
            self.forget_refilled();
        }
        limiter.check_key(&addr).map_err(|_| self.retry_after_secs)
    }

    /// Bounds the memory: a shard past its size forgets the addresses whose allowance has
    /// refilled (they behave like new ones).
    fn forget_refilled(&self) {
        for shard in &self.shards {
            if shard.len() >= MAX_TRACKED_PER_SHARD {
                shard.retain_recent();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_refuses() {
        let l = RateLimiter::new(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        assert_eq!(l.check(a), Err(1));
        assert!(
            l.check("10.0.0.2".parse().unwrap()).is_ok(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn zero_means_off() {
        let l = RateLimiter::new(0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..1000).all(|_| l.check(a).is_ok()));
    }

    #[test]
    fn refilled_addresses_are_forgotten_once_many_are_tracked() {
        let l = RateLimiter::new(1_000_000);
        let many = (SHARDS * MAX_TRACKED_PER_SHARD) as u32 + 2 * SHARDS as u32 * CHECKS_PER_LOOK;
        for i in 0..many {
            let _ = l.check(IpAddr::from(i.to_be_bytes()));
        }
        // A million a second refills in a microsecond: addresses were forgotten each time a
        // shard's size was looked at, so none holds all it was sent.
        for shard in &l.shards {
            assert!(shard.len() < MAX_TRACKED_PER_SHARD, "{}", shard.len());
        }
    }
}
