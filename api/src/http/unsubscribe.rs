//! One-click unsubscribe from notice mails (RFC 8058), without signing in: `POST` turns the
//! link's kind of notice off by email for its recipient; `GET` (what a person's click opens,
//! and what mail scanners fetch) only shows a button that posts, so a prefetch changes nothing.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use service::notification::unsubscribe;

use crate::state::AppState;

fn invalid() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This unsubscribe link is not valid.\n",
    )
        .into_response()
}

/// `GET /notifications/unsubscribe/{token}`: a page with the button.
pub async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if unsubscribe::verify(state.keyring(), &token).is_none() {
        return invalid();
    }
    let html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head>\
        <body><form method=\"post\"><p>Stop receiving these mails?</p>\
        <button type=\"submit\">Unsubscribe</button></form></body></html>";
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// `POST /notifications/unsubscribe/{token}`: turns the kind off.
pub async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(what) = unsubscribe::verify(state.keyring(), &token) else {
        return invalid();
    };
    match unsubscribe::apply(state.db(), &what).await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "You will no longer receive these mails.\n",
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "unsubscribing failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}
