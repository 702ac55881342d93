use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

/// `GET /metrics`: Prometheus text format.
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        {
            state.metrics().sample(state.db());
            // A scrape answers while the pool is exhausted, when its figures matter most: the
            // backlogs (three statements) keep their last values then, and whenever reading
            // them takes longer than a second, instead of queueing behind the requests.
            let pool = service::db::pool_usage(state.db());
            if pool.idle > 0 || pool.open < pool.max {
                // Statements of a scrape count neither as a request's nor as background work.
                let quiet = service::db::with_hook(
                    state.db(),
                    std::time::Duration::from_secs(1),
                    std::sync::Arc::new(|_| {}),
                );
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    state.metrics().sample_backlogs(&quiet),
                )
                .await;
            }
            state.metrics().encode()
        },
    )
}
