//! The HTTP surface: GraphQL, GraphiQL, health, readiness and metrics.

mod browser;
pub mod client_addr;
pub mod files;
mod graphiql;
pub(crate) mod graphql;
mod health;
mod metrics;
mod password_reset;
mod unsubscribe;
pub(crate) mod ws;

use service::ErrorCode;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Larger bodies are refused before they are read.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `GET /graphql`: a WebSocket upgrade for subscriptions, otherwise a query or GraphiQL.
async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    if ws::is_upgrade(request.headers()) {
        ws::upgrade(State(state), request).await
    } else {
        axum::handler::Handler::call(graphql::get, request, state).await
    }
}

/// The token of an `Authorization: Bearer <token>` value.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    let mut routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphql/assets/{hash}/{name}", get(graphiql::asset))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .route(
            "/notifications/unsubscribe/{token}",
            get(unsubscribe::page).post(unsubscribe::confirm),
        )
        .route(
            "/password-reset",
            get(password_reset::form).post(password_reset::submit),
        );
    // With a listener of its own (on an address only the scraper reaches), `/metrics` is not
    // served to the clients of the API.
    if !state.separate_metrics() {
        routes = routes.route("/metrics", get(metrics::render));
    }
    let api = routes
        .layer(middleware::from_fn(catch_panics))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        // Enforced on the body stream itself (async-graphql's extractor reads the body directly,
        // bypassing axum's DefaultBodyLimit): a declared length over the cap is answered 413
        // before anything is read.
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            MAX_BODY_BYTES,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ));
    // Attachments' bytes: bodies up to the attachment cap (enforced while streaming, against
    // the size the upload announced), and the time a large file takes on a slow link.
    let files = Router::new()
        .route("/attachments/upload/{token}", put(files::upload))
        .route("/attachments/download/{token}", get(files::download))
        .layer(middleware::from_fn(catch_panics))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(3600),
        ));
    api.merge(files)
        .layer(
            // One span per request, carrying its id, so every log line of a request can be found
            // from the id a client reports.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                let path = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or(req.uri().path(), MatchedPath::as_str);
                let span = tracing::info_span!(
                    "http_request",
                    otel.kind = "server",
                    method = %req.method(),
                    path,
                    request_id = id
                );
                // A caller's `traceparent` makes this span part of its trace.
                crate::telemetry::continue_from_headers(&span, req.headers());
                span
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // Outermost, so answers made by the layers inside (413, 408) get them too.
        .layer(middleware::from_fn_with_state(
            browser::Cors::new(state.cors_origins()),
            browser::cors,
        ))
        .layer(middleware::from_fn(browser::security_headers))
        .with_state(state)
}

/// A panic while handling a request becomes `INTERNAL` with the request id (and a log line
/// with the panic's message), never a reset connection. tower-http's `CatchPanicLayer` would
/// do the catching, but its handler does not see the request, so it cannot name the request id.
async fn catch_panics(req: Request, next: Next) -> Response {
    use futures_util::FutureExt;
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            tracing::error!(request_id, panic = %message, "a request handler panicked");
            let body = serde_json::json!({
                "errors": [{
                    "message": "internal error",
                    "extensions": { "code": ErrorCode::Internal.as_str(), "requestId": request_id },
                }]
            });
            let mut response = (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                body.to_string(),
            )
                .into_response();
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            );
            response
        }
    }
}

/// The metrics listener's router, when `HELPDESK_METRICS_ADDR` gives `/metrics` an address of
/// its own: that and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    state.metrics().record_http(method.as_str(), status);
    state
        .metrics()
        .record_http_duration(method.as_str(), &route, status, started.elapsed());
    response
}
