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
    /// Confirmations of a code; each code has 5 attempts of its own besides.
    pub confirmations: Limit,
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
            confirmations: Limit {
                burst: 20,
                period_ms: 6_000,
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

/// A limit counted per client address (the stricter one for uploads to forms without
/// verification, which the relay checks, and those the HTTP layer puts on its routes).
pub struct ClientLimiter(governor::DefaultKeyedRateLimiter<IpAddr>);

impl ClientLimiter {
    pub fn new(limit: Limit) -> ClientLimiter {
        let quota = governor::Quota::with_period(Duration::from_millis(limit.period_ms.max(1)))
            .expect("a period above zero")
            .allow_burst(NonZeroU32::new(limit.burst.max(1)).expect("above zero"));
        ClientLimiter(governor::RateLimiter::keyed(quota))
    }

    /// Counts a request from `client`; over the limit, the whole seconds to wait, rounded
    /// up (a client that waits that long is let in).
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.0.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    /// Forgets clients whose limit is full again, so that the table does not grow.
    pub fn forget_idle(&self) {
        self.0.retain_recent();
    }
}
