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

/// `GET /readyz`: ready for traffic when the database answers and the server is not shutting
/// down; otherwise 503 naming the failing part. Redis is not required: without it queries,
/// mutations and statistics still work, and replicas read each other's events from the log,
/// so a Redis that does not answer makes the answer `degraded` (200, naming Redis, and
/// `helpdesk_redis_degraded` is 1) instead of taking every replica out of service.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting_down" })),
        );
    }
    let database = service::health::database(state.db()).await;
    let mut parts = serde_json::Map::new();
    parts.insert(database.part.to_string(), part(&database));
    let mut degraded = false;
    if let Some(redis) = state.redis() {
        let check = service::health::redis(redis).await;
        degraded = check.result.is_err();
        state.metrics().set_redis_degraded(degraded);
        let mut value = part(&check);
        if degraded {
            value["degraded"] = json!(true);
        }
        parts.insert(check.part.to_string(), value);
    }
    let (status, word) = match (database.is_ok(), degraded) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ok"),
    };
    (status, Json(json!({ "status": word, "checks": parts })))
}

/// A check as `/readyz` shows it. The cause goes to the log; anyone can call `/readyz`, so it
/// only learns which part does not answer.
fn part(check: &service::health::Check) -> Value {
    match &check.result {
        Ok(_) => json!("ok"),
        Err(reason) => {
            tracing::warn!(part = check.part, reason, "readiness check failed");
            json!({ "error": "unreachable" })
        }
    }
}
