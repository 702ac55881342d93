//! Throttling of credential checks, before any password is hashed.
//!
//! Two keyed limiters (the GCRA of the `governor` crate): one per client address, one per
//! account (the normalized email). Each allows a burst of its per-minute quota and then one
//! attempt every `60 / quota` seconds, which never stops a person who mistypes a password and
//! stops a script at a handful of guesses a minute. An attempt over either limit is refused
//! with `RATE_LIMITED` and the seconds until the next one is allowed, and costs nothing else:
//! no hash, no database row.
//!
//! The limiters live in the process: behind several replicas an attacker gets each replica's
//! quota, which the account lockout (stored in the database) still bounds.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{Error, Result};

/// Keys kept before stale ones are dropped (a key whose quota is full again holds no state).
const RETAIN_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// Credential checks per minute for one account.
    pub per_account_per_minute: u32,
    /// Credential checks per minute from one client address.
    pub per_address_per_minute: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_account_per_minute: 10,
            per_address_per_minute: 60,
        }
    }
}

pub struct Throttle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle").finish_non_exhaustive()
    }
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            per_account: RateLimiter::keyed(quota(config.per_account_per_minute)),
            per_address: RateLimiter::keyed(quota(config.per_address_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one credential check for the address and the account (either may be unknown);
    /// `RATE_LIMITED` when either is over its limit. The address is checked first, so guesses
    /// spread over many accounts from one address are stopped as well.
    pub fn check(&self, address: Option<&str>, account: Option<&str>) -> Result<()> {
        if let Some(address) = address {
            Self::take(&self.per_address, &self.clock, &address_key(address))?;
        }
        if let Some(account) = account {
            Self::take(&self.per_account, &self.clock, &account.to_lowercase())?;
        }
        Ok(())
    }

    fn take(
        limiter: &DefaultKeyedRateLimiter<String>,
        clock: &DefaultClock,
        key: &str,
    ) -> Result<()> {
        if limiter.len() > RETAIN_ABOVE {
            limiter.retain_recent();
        }
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(clock.now());
            Error::RateLimited {
                retry_after_seconds: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

/// The key an address is counted under: an IPv4 address as it is, an IPv6 address by its /64
/// (one subscriber's usual allocation, whose 2^64 addresses would otherwise each get a quota).
pub fn address_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = ip.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        _ => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_over_its_quota_is_refused_with_the_wait() {
        let throttle = Throttle::new(ThrottleConfig {
            per_account_per_minute: 3,
            per_address_per_minute: 100,
        });
        for _ in 0..3 {
            throttle
                .check(Some("10.0.0.1"), Some("Ann@example.com"))
                .unwrap();
        }
        let refused = throttle
            .check(Some("10.0.0.2"), Some("ann@example.com"))
            .unwrap_err();
        assert_eq!(refused.code(), "RATE_LIMITED");
        let wait = refused.retry_after_seconds().unwrap();
        assert!((1..=20).contains(&wait), "{wait}");
        // Another account is not held up.
        throttle
            .check(Some("10.0.0.2"), Some("bob@example.com"))
            .unwrap();
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_bit_prefix() {
        assert_eq!(
            address_key("2001:db8:1:2::5"),
            address_key("2001:db8:1:2:ffff::9")
        );
        assert_ne!(
            address_key("2001:db8:1:2::5"),
            address_key("2001:db8:1:3::5")
        );
        assert_eq!(address_key("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(address_key("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn an_address_over_its_quota_is_refused_whatever_the_account() {
        let throttle = Throttle::new(ThrottleConfig {
            per_account_per_minute: 100,
            per_address_per_minute: 2,
        });
        throttle
            .check(Some("10.0.0.1"), Some("a@example.com"))
            .unwrap();
        throttle
            .check(Some("10.0.0.1"), Some("b@example.com"))
            .unwrap();
        let refused = throttle
            .check(Some("10.0.0.1"), Some("c@example.com"))
            .unwrap_err();
        assert_eq!(refused.code(), "RATE_LIMITED");
        throttle
            .check(Some("10.0.0.9"), Some("c@example.com"))
            .unwrap();
    }
}
