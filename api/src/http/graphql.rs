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
    state.schema().execute(request).await.into()
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
