use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /healthz`: the process is alive and serving HTTP. Checks nothing else, so a slow
/// database never gets a healthy process restarted.
pub async fn alive() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: ready for traffic when the database (and Redis, when configured) answer and
/// the server is not shutting down; otherwise 503 naming the failing part.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting_down" })),
        );
    }
    let mut checks = vec![service::health::database(state.db()).await];
    if let Some(redis) = state.redis() {
        checks.push(service::health::redis(redis).await);
    }
    let ready = checks.iter().all(|c| c.is_ok());
    let parts: serde_json::Map<String, Value> = checks
        .iter()
        .map(|check| {
            let value = match &check.result {
                Ok(_) => json!("ok"),
                Err(reason) => {
                    // The cause goes to the log; anyone can call /readyz, so it only learns
                    // which part is down.
                    tracing::warn!(part = check.part, reason, "readiness check failed");
                    json!({ "error": "unreachable" })
                }
            };
            (check.part.to_string(), value)
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "status": if ready { "ok" } else { "unavailable" }, "checks": parts })),
    )
}
