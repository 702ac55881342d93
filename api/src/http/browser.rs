//! What browsers need from every response: CORS for dashboards served from other origins,
//! the `Origin` check on WebSocket upgrades, and the headers that keep pages from being
//! sniffed, framed or leaking their address.
//!
//! Tokens travel in the `Authorization` header or `connection_init`, never in cookies, so a
//! foreign page cannot act with a user's rights on its own; CORS is still opt-in per origin
//! (`HELPDESK_CORS_ORIGINS`), and a subscription socket opened by a page of a foreign origin is
//! refused anyway, since a browser sends no preflight before a WebSocket upgrade.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// For HTML without a policy of its own: nothing may load, nothing may frame it.
const HTML_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// CORS for the configured origins.
#[derive(Clone)]
pub struct Cors {
    origins: Arc<[HeaderValue]>,
    layer: CorsLayer,
}

impl Cors {
    pub fn new(origins: &[HeaderValue]) -> Self {
        let request_id = HeaderName::from_static("x-request-id");
        let layer = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                request_id.clone(),
            ])
            .expose_headers([request_id])
            .max_age(PREFLIGHT_MAX_AGE);
        Self {
            origins: origins.into(),
            layer,
        }
    }
}

/// Hands requests from a configured origin to tower-http's CORS layer. Requests from any other
/// origin (or none) bypass it and get no CORS headers at all, rather than a preflight answer
/// that lists methods and headers but no `Access-Control-Allow-Origin`.
pub async fn cors(State(cors): State<Cors>, request: Request, next: Next) -> Response {
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .is_some_and(|origin| cors.origins.contains(origin));
    if allowed {
        return match cors.layer.layer(next).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    }
    let mut response = next.run(request).await;
    if !cors.origins.is_empty() {
        // The answer depends on `Origin`: a shared cache must not hand this one to a page of
        // an allowed origin.
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Whether a WebSocket upgrade may proceed: its `Origin` is this server's own or a configured
/// one. Without `Origin` the client is not a browser page, and is let through.
pub fn websocket_origin_allowed(headers: &HeaderMap, allowed: &[HeaderValue]) -> bool {
    headers
        .get(header::ORIGIN)
        .is_none_or(|origin| allowed.contains(origin) || same_origin(origin, headers))
}

/// Whether `origin` names the host the request was sent to. The scheme is not compared: behind
/// a TLS-terminating proxy the page is https while this server sees plain HTTP.
fn same_origin(origin: &HeaderValue, headers: &HeaderMap) -> bool {
    let (Ok(origin), Some(host)) = (
        origin.to_str(),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "https" => ":443",
        _ => ":80",
    };
    let host = host.strip_suffix(default_port).unwrap_or(host);
    authority.eq_ignore_ascii_case(host)
}

/// `X-Content-Type-Options` and `Referrer-Policy` on every response; on HTML, also
/// `X-Frame-Options` and a Content-Security-Policy (the page's own when it set one).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    if html {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(HTML_POLICY));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: &str, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        headers
    }

    #[test]
    fn a_websocket_origin_is_accepted_when_it_is_the_servers_own_or_configured() {
        let configured = [HeaderValue::from_static("https://dash.example.com")];
        let cases = [
            ("http://127.0.0.1:8000", "127.0.0.1:8000", true),
            ("https://helpdesk.example.com", "helpdesk.example.com", true),
            (
                "https://helpdesk.example.com",
                "helpdesk.example.com:443",
                true,
            ),
            ("http://Helpdesk.Example.com", "helpdesk.example.com", true),
            ("https://dash.example.com", "helpdesk.example.com", true),
            ("http://127.0.0.1:8001", "127.0.0.1:8000", false),
            ("https://evil.example", "helpdesk.example.com", false),
            (
                "https://helpdesk.example.com.evil.example",
                "helpdesk.example.com",
                false,
            ),
            ("null", "helpdesk.example.com", false),
        ];
        for (origin, host, accepted) in cases {
            assert_eq!(
                websocket_origin_allowed(&request(origin, host), &configured),
                accepted,
                "{origin} on {host}"
            );
        }
        assert!(
            websocket_origin_allowed(&HeaderMap::new(), &[]),
            "no Origin"
        );
    }
}
