//! `/graphql/ws`: GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the older
//! `graphql-ws`). The access token travels in the `connection_init` payload
//! (`{ "authorization": "Bearer ..." }`).
//!
//! The handshake is ours, so it closes with the protocol's codes (async-graphql closes every
//! failed init with 1002): no `connection_init` within 3 s is 4408, a missing or bad token
//! 4403, a subscription before the handshake 4401, anything else first 4400. The accepted
//! `connection_init` is then replayed to async-graphql, which acknowledges it and serves the
//! subscriptions.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};

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
        .on_upgrade(move |socket| handshake(state, protocol, socket))
}

const INIT_TIMEOUT: Duration = Duration::from_secs(3);

async fn handshake(state: AppState, protocol: GraphQLProtocol, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let first = match tokio::time::timeout(INIT_TIMEOUT, first_text(&mut stream)).await {
        Err(_) => return close(&mut sink, 4408, "Connection initialisation timeout").await,
        Ok(None) => return,
        Ok(Some(text)) => text,
    };
    let Ok(message) = serde_json::from_str::<serde_json::Value>(&first) else {
        return close(&mut sink, 4400, "Invalid message").await;
    };
    match message["type"].as_str() {
        Some("connection_init") => {}
        Some("subscribe") | Some("start") => return close(&mut sink, 4401, "Unauthorized").await,
        _ => return close(&mut sink, 4400, "Invalid message").await,
    }
    let data = match connection_data(&state, message["payload"].clone()).await {
        Ok(data) => data,
        Err(err) => {
            tracing::debug!(reason = %err.message, "subscription handshake refused");
            return close(&mut sink, 4403, "Forbidden").await;
        }
    };
    let replayed = futures_util::stream::once(async move { Ok(Message::Text(first.into())) });
    GraphQLWebSocket::new_with_pair(
        sink,
        replayed.chain(stream),
        state.schema().clone(),
        protocol,
    )
    .with_data(data)
    .serve()
    .await;
}

/// The first text frame, skipping pings; `None` when the client went away.
async fn first_text(stream: &mut SplitStream<WebSocket>) -> Option<String> {
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => return Some(text.to_string()),
            Message::Binary(bytes) => return Some(String::from_utf8_lossy(&bytes).into_owned()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
    None
}

async fn close(sink: &mut SplitSink<WebSocket, Message>, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// The connection's viewer and loaders, from the token in `connection_init`.
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
