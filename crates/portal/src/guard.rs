//! What every request goes through: who the client is (the peer, or the client a trusted proxy
//! names), the deadline of its body (`request_timeout`), a request budget per client address,
//! and the security headers every response carries (strict CSP, no sniffing, no framing, no
//! referrer, no cache; HSTS when the portal's address is `https://`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::listener::{Connection, Peer};
use crate::{Portal, deadline, forwarded};

/// Clients remembered at most; beyond it, the oldest windows are dropped.
const MAX_CLIENTS: usize = 100_000;
const WINDOW: Duration = Duration::from_secs(60);

/// Requests per minute per client address (IPv6 clients counted per /64).
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// One client as limits count them: an IPv4 address, or an IPv6 /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("checked")),
        v4 => v4,
    }
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per client.
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one request of `ip`; false when its budget for this minute is spent.
    pub fn allow(&self, ip: IpAddr) -> bool {
        let key = client_key(ip);
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limiter lock");
        if windows.len() >= MAX_CLIENTS {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_minute
    }
}

/// The security headers of every portal response.
pub const HEADERS: [(&str, &str); 7] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// `Strict-Transport-Security` of a portal whose `[portal] url` is `https://`: browsers use
/// HTTPS only, for a year, so no one on the path can strip it (the portal's own host only; other
/// names under its domain may still serve plain HTTP).
pub const HSTS: &str = "max-age=31536000";

/// The client, the body's deadline and the rate limit, then the handler, then the headers.
/// Handlers see the client as `ConnectInfo<Peer>`.
pub async fn guard(
    State(portal): State<Portal>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = connection.clock.handling();
    let p = &portal.inner.config.portal;
    let client =
        forwarded::client(connection.addr.ip(), request.headers(), p.trusted_proxy_header, |ip| p.trusted_proxy(ip));
    let peer = SocketAddr::new(client, connection.addr.port());
    request.extensions_mut().insert(ConnectInfo(Peer(peer)));
    let (parts, body) = request.into_parts();
    // The send page's upload may take longer than any other request, and its page runs a
    // script of its own.
    let send_page = parts.uri.path() == "/sent/send";
    let timeout = if send_page && parts.method == axum::http::Method::POST {
        portal.inner.config.console.send_timeout.0
    } else {
        p.request_timeout.0
    };
    let (body, missed) = deadline::timed(body, started + timeout);
    let request = Request::from_parts(parts, body);
    let clock = connection.clock.clone();
    let mut response = if portal.inner.limiter.allow(client) {
        let response = next.run(request).await;
        if missed.missed() { timed_out() } else { response }
    } else {
        let mut r = (StatusCode::TOO_MANY_REQUESTS, "too many requests from your address; try again in a minute\n")
            .into_response();
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        r
    };
    let secure = portal.secure();
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if send_page {
        headers.insert("content-security-policy", HeaderValue::from_static(crate::console_send::SEND_CSP));
    }
    if secure {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    // The next request's header time starts once this response has been sent whole.
    response.map(|body| Body::new(deadline::Sent::new(body, clock)))
}

/// `408` for a request that did not arrive in time; the connection is closed after it.
fn timed_out() -> Response {
    let mut r = (StatusCode::REQUEST_TIMEOUT, "the request did not arrive in time; retry\n").into_response();
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_budget() {
        let limiter = RateLimiter::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow(a)));
        assert!(!limiter.allow(a));
        assert!(limiter.allow(b));
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow(v6a)));
        assert!(!limiter.allow(v6b), "one /64 is one client");
    }
}
