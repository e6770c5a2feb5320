//! Rate limits on whole routes, per client address (`tower_governor`). The client address
//! is the peer's, unless the peer is a configured reverse proxy: then it is the right-most
//! address in X-Forwarded-For that is not one of those proxies (anything left of it the
//! client wrote).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use axum::response::IntoResponse;
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use wire::ErrorCode;

use super::error::ApiError;
use crate::relay::limits::Limit;

/// The client's address for rate limiting; no proxies trusted by default.
#[derive(Debug, Clone, Default)]
pub struct ClientKey {
    pub trusted_proxies: Arc<[IpAddr]>,
}

impl ClientKey {
    pub fn client_ip(&self, extensions: &axum::http::Extensions, headers: &HeaderMap) -> IpAddr {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse().ok())
            .collect();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .unwrap_or(peer)
    }
}

impl KeyExtractor for ClientKey {
    type Key = IpAddr;

    fn extract<T>(&self, request: &Request<T>) -> Result<IpAddr, GovernorError> {
        Ok(self.client_ip(request.extensions(), request.headers()))
    }
}

/// A layer enforcing `limit` per client address.
pub fn layer(
    limit: Limit,
    key: ClientKey,
) -> GovernorLayer<ClientKey, governor::middleware::NoOpMiddleware, Body> {
    let config = GovernorConfigBuilder::default()
        .period(Duration::from_millis(limit.period_ms.max(1)))
        .burst_size(limit.burst.max(1))
        .key_extractor(key)
        .finish()
        .expect("a burst and a period above zero");
    let limiter = config.limiter().clone();
    // Forget idle clients now and then, so that the table does not grow without bound.
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            limiter.retain_recent();
        }
    });
    GovernorLayer::new(config).error_handler(|error| match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            ApiError::rate_limited(wait_time).into_response()
        }
        _ => ApiError::new(ErrorCode::InternalError).into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        request
            .extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        if let Some(value) = forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", value.parse().unwrap());
        }
        request
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let key = ClientKey {
            trusted_proxies: vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()].into(),
        };
        let ip = |peer, forwarded| key.extract(&request(peer, forwarded)).unwrap().to_string();
        // A client cannot pick its own key by sending the header.
        assert_eq!(ip("198.51.100.7:5000", Some("203.0.113.9")), "198.51.100.7");
        // Behind the proxy: the address the proxy saw, not what the client prepended.
        assert_eq!(
            ip("10.0.0.1:443", Some("6.6.6.6, 203.0.113.9")),
            "203.0.113.9"
        );
        // Through both proxies.
        assert_eq!(
            ip("10.0.0.1:443", Some("203.0.113.9, 10.0.0.2")),
            "203.0.113.9"
        );
        // A proxy that sent nothing usable: the proxy itself.
        assert_eq!(ip("10.0.0.1:443", Some("unknown")), "10.0.0.1");
        assert_eq!(ip("10.0.0.1:443", None), "10.0.0.1");
    }
}
