use std::net::SocketAddr;

use async_graphql::http::GraphiQLSource;
use async_graphql::{ErrorExtensions, Response, ServerError};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use service::audit::ClientInfo;

use crate::graphql::context::Viewer;
use crate::graphql::loader::Loaders;
use crate::state::AppState;

/// `POST /graphql`: GraphQL over HTTP. The bearer token is checked once, here; the request
/// then carries the viewer, a fresh set of loaders and where it came from.
pub async fn execute(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let viewer = match viewer(&state, &headers).await {
        Ok(viewer) => viewer,
        Err(err) => {
            let error = crate::graphql::error::gql(err);
            let mut server_error = ServerError::new(error.message.clone(), None);
            server_error.extensions = error.extend().extensions;
            return Response::from_errors(vec![server_error]).into();
        }
    };
    let loaders = Loaders::new(state.db(), viewer.0.as_ref());
    let client = ClientInfo {
        ip: Some(client_ip(&headers, peer)),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let request = request.into_inner().data(viewer).data(loaders).data(client);
    let mut response = state.schema().execute(request).await;
    for error in &mut response.errors {
        classify(error);
    }
    response.into()
}

/// Gives every error an `extensions.code`. Resolver errors carry theirs already; what is left
/// comes from async-graphql itself: a document that does not parse, one that fails validation,
/// an argument value of the wrong type (an unknown enum value, an out-of-range number).
fn classify(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if has_code {
        return;
    }
    let message = error.message.clone();
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if message.contains("Invalid value for argument")
        || message.starts_with("Failed to parse")
        || message.contains("got invalid value")
    {
        extensions.set("code", "BAD_USER_INPUT");
        if let Some(field) = argument_of(&message) {
            extensions.set("field", field);
        }
    } else if error.path.is_empty() {
        let code = if message.contains("-->")
            || message.contains("expected") && error.locations.is_empty()
        {
            "GRAPHQL_PARSE_FAILED"
        } else {
            "GRAPHQL_VALIDATION_FAILED"
        };
        extensions.set("code", code);
    } else {
        tracing::error!(error = %message, path = ?error.path, "unclassified error while resolving");
        extensions.set("code", "INTERNAL");
        error.message = "internal error".into();
    }
}

/// The innermost argument name in messages like `Invalid value for argument "input.priority"`.
fn argument_of(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let end = start + message[start..].find('"')?;
    let path = &message[start..end];
    path.rsplit('.').next().map(str::to_string)
}

/// The viewer behind the `Authorization` header: none without a header, an error for a
/// header that does not carry a valid token.
async fn viewer(state: &AppState, headers: &HeaderMap) -> service::Result<Viewer> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Viewer(None));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            service::Error::Unauthenticated("expected `Authorization: Bearer <token>`".into())
        })?;
    let claims = state.auth().verify_access_token(token)?;
    let actor = service::auth::actor(state.db(), &claims).await?;
    Ok(Viewer(Some(actor)))
}

/// The client's address: the first `X-Forwarded-For` hop when a proxy set one, else the peer.
fn client_ip(headers: &HeaderMap, peer: SocketAddr) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|ip| ip.trim().to_string())
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| peer.ip().to_string())
}

/// `GET /graphql`: the GraphiQL explorer, unless turned off.
pub async fn graphiql(State(state): State<AppState>) -> axum::response::Response {
    if !state.graphiql() {
        return (
            StatusCode::NOT_FOUND,
            "GraphiQL is turned off on this server",
        )
            .into_response();
    }
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("helpdesk GraphiQL")
            .finish(),
    )
    .into_response()
}
