//! Rate limits per client address: what they are (`relay.limits`), and the stricter one
//! for forms without verification, which the relay applies itself. The HTTP layer applies
//! the others to whole routes (`http::limits`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Each limit lets a burst through, then one request per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub burst: u32,
    pub period_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Every API request (search as you type included).
    pub api: Limit,
    /// Code requests; the per-address limits (3 an hour, 10 a day) come on top.
    pub codes: Limit,
    /// Uploads to forms that verify the sender's address.
    pub submissions: Limit,
    /// Uploads to forms that switched verification off: nobody vouches for the sender.
    pub unverified_submissions: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            api: Limit {
                burst: 120,
                period_ms: 100,
            },
            codes: Limit {
                burst: 10,
                period_ms: 20_000,
            },
            submissions: Limit {
                burst: 20,
                period_ms: 6_000,
            },
            unverified_submissions: Limit {
                burst: 5,
                period_ms: 60_000,
            },
        }
    }
}

/// The stricter limit for uploads to forms without verification, which the relay checks.
pub struct UnverifiedLimiter(governor::DefaultKeyedRateLimiter<IpAddr>);

impl UnverifiedLimiter {
    pub fn new(limit: Limit) -> UnverifiedLimiter {
        let quota = governor::Quota::with_period(Duration::from_millis(limit.period_ms.max(1)))
            .expect("a period above zero")
            .allow_burst(NonZeroU32::new(limit.burst.max(1)).expect("above zero"));
        UnverifiedLimiter(governor::RateLimiter::keyed(quota))
    }

    /// Counts an upload from `client`; over the limit, the seconds to wait.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.0.check_key(&client).map_err(|not_until| {
            not_until
                .wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ))
                .as_secs()
                + 1
        })
    }
}
