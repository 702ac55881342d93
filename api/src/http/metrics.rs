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
            // Statements of a scrape count neither as a request's nor as background work.
            let quiet = service::db::with_hook(
                state.db(),
                std::time::Duration::from_secs(1),
                std::sync::Arc::new(|_| {}),
            );
            state.metrics().sample_backlogs(&quiet).await;
            state.metrics().encode()
        },
    )
}
