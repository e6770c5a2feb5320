//! Rate limits on whole routes, per client address (`governor`). The client address is the
//! peer's, unless the peer is a configured reverse proxy: then it is the right-most address
//! in X-Forwarded-For that is not one of those proxies (anything left of it the client
//! wrote).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::relay::limits::{ClientLimiter, Limit};

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

/// `router` with each client let through `limit`; over it, `429 rate_limited` with a
/// `Retry-After` that is enough.
pub fn limited<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    limit: Limit,
    key: ClientKey,
) -> Router<S> {
    let limiter = Arc::new(ClientLimiter::new(limit));
    let janitor = limiter.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            janitor.forget_idle();
        }
    });
    router.layer(axum::middleware::from_fn_with_state(
        (limiter, key),
        check_limit,
    ))
}

async fn check_limit(
    State((limiter, key)): State<(Arc<ClientLimiter>, ClientKey)>,
    request: Request,
    next: Next,
) -> Response {
    match limiter.check(key.client_ip(request.extensions(), request.headers())) {
        Ok(()) => next.run(request).await,
        Err(seconds) => ApiError::rate_limited(seconds).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> axum::http::Request<()> {
        let mut request = axum::http::Request::new(());
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
        let ip = |peer, forwarded| {
            let request = request(peer, forwarded);
            key.client_ip(request.extensions(), request.headers())
                .to_string()
        };
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
