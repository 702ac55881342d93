//! `/graphql/ws`: GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the older
//! `graphql-ws`). The access token travels in the `connection_init` payload
//! (`{ "authorization": "Bearer ..." }`); a missing or bad one closes the socket.

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;

use crate::graphql::context::Viewer;
use crate::graphql::loader::Loaders;
use crate::state::AppState;

pub async fn upgrade(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let schema = state.schema().clone();
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(
                    move |payload| async move { connection_data(&state, payload).await },
                )
                .serve()
        })
}

/// The connection's viewer, from the token in `connection_init`.
async fn connection_data(
    state: &AppState,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let token = payload
        .get("authorization")
        .or_else(|| payload.get("Authorization"))
        .and_then(|v| v.as_str())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            async_graphql::Error::new(
                "send { \"authorization\": \"Bearer <token>\" } in connection_init",
            )
        })?;
    let claims = state
        .auth()
        .verify_access_token(token.trim())
        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
    let actor = service::auth::actor(state.db(), &claims)
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
    let mut data = Data::default();
    // Loaders without a cache: a socket lives long, and every event must show current rows.
    data.insert(Loaders::uncached(state.db(), Some(&actor)));
    data.insert(Viewer::signed_in(Some(actor)));
    Ok(data)
}
