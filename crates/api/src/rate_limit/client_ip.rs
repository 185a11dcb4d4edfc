//! Who a request counts for: its client address, believing `X-Forwarded-For` only from
//! the configured proxies.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;

/// The client address of a request: the peer, unless the peer is a trusted proxy, in
/// which case the nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
#[derive(Debug, Clone)]
pub struct ClientIp {
    trusted_proxies: Arc<Vec<IpAddr>>,
}

impl ClientIp {
    /// Believes `X-Forwarded-For` from `trusted_proxies` only.
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            trusted_proxies: Arc::new(trusted_proxies),
        }
    }

    /// The client of `req`. Without a peer address (not over TCP) there is nobody to
    /// tell apart: every such request shares one budget.
    pub fn of(&self, req: &ServiceRequest) -> IpAddr {
        self.of_request(req.request())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// The client of `req` by the same rule; `None` when not over TCP.
    pub fn of_request(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let client = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .find(|ip| !self.trusted_proxies.contains(ip))
            .unwrap_or(peer);
        Some(client)
    }
}
