//! The page a password reset link opens, for deployments without a front end of their own:
//! `GET /password-reset?token=...` shows a form for the new password, and its `POST` sets it
//! (as `authPasswordReset` does). Opening the link changes nothing.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use service::audit::ClientInfo;

use crate::state::AppState;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Reset your password</title>\
         </head><body>{body}</body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct Link {
    #[serde(default)]
    token: String,
}

/// `GET /password-reset?token=...`: the form.
pub async fn form(Query(link): Query<Link>) -> Response {
    page(
        StatusCode::OK,
        &format!(
            "<form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
             <label>New password <input type=\"password\" name=\"new_password\" \
             autocomplete=\"new-password\" required></label> \
             <button type=\"submit\">Set password</button></form>",
            escape(&link.token)
        ),
    )
}

#[derive(Deserialize)]
pub struct NewPassword {
    token: String,
    new_password: String,
}

/// `POST /password-reset`: sets the password.
pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<NewPassword>,
) -> Response {
    let client = ClientInfo {
        ip: Some(state.forwarded_for().client_ip(&headers, peer).to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    match service::password_reset::reset(
        state.db(),
        state.auth(),
        &form.token,
        &form.new_password,
        &client,
    )
    .await
    {
        Ok(()) => page(
            StatusCode::OK,
            "<p>Your password is changed. Sign in with it; every other session has ended.</p>",
        ),
        Err(service::Error::InvalidInput { message, .. }) => page(
            StatusCode::BAD_REQUEST,
            &format!("<p>{}</p>", escape(&message)),
        ),
        Err(service::Error::RateLimited { .. }) => page(
            StatusCode::TOO_MANY_REQUESTS,
            "<p>Too many attempts; try again in a minute.</p>",
        ),
        Err(err) => {
            tracing::error!(error = %err, "a password reset failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<p>Something went wrong.</p>",
            )
        }
    }
}
