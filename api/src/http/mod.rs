//! The HTTP surface: GraphQL, GraphiQL, health, readiness and metrics.

mod browser;
mod graphiql;
mod graphql;
mod health;
mod metrics;
mod ws;

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
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
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql::post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphql/assets/{hash}/{name}", get(graphiql::asset))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(metrics::render))
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
                tracing::info_span!("http_request", method = %req.method(), path, request_id = id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        // Outermost, so answers made by the layers inside (413, 408) get them too.
        .layer(middleware::from_fn_with_state(
            browser::Cors::new(state.cors_origins()),
            browser::cors,
        ))
        .layer(middleware::from_fn(browser::security_headers))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let response = next.run(req).await;
    state
        .metrics()
        .record_http(method.as_str(), response.status().as_u16());
    response
}
