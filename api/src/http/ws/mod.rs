//! GraphQL subscriptions over WebSocket, at `/graphql/ws` and as an upgrade of `GET /graphql`:
//! `graphql-transport-ws`, and the older `graphql-ws` for legacy clients. The access token
//! travels in the `connection_init` payload (`{ "authorization": "Bearer ..." }`); the upgrade
//! request's `Authorization` header is accepted too.
//!
//! async-graphql executes the operations; this module owns the connection around it, so it
//! closes with the protocol's codes (async-graphql closes a failed init with 1002 and replaces
//! an operation whose id is taken):
//! - no `connection_init` within 3 s: 4408; a missing or bad token: 4403; a subscription
//!   before the handshake: 4401; a second `connection_init`: 4429; an operation id already in
//!   use: 4409; anything that is not a protocol message: 4400;
//! - the access token expires, or the user's sessions end (password change, lock, role change):
//!   4403 (the client signs in again and reconnects);
//! - more sockets than allowed from one client address or for one user: 4429;
//! - the server stops: 1012, and the server waits for the socket to close.
//!
//! A socket holds at most [`MAX_SUBSCRIPTIONS`] operations; one more is answered with an
//! `error` message for its id, as is a query or mutation (those go over HTTP). What the server sends goes through a bounded queue: a client
//! that stops reading holds up only its own socket, and is disconnected when a write cannot
//! complete within [`WRITE_TIMEOUT`].

pub mod shared;

use service::ErrorCode;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use crate::graphql::context::Viewer;
use crate::graphql::loader::Loaders;
use crate::state::{AppState, SocketOwner};

/// Operations one socket may run at once.
pub const MAX_SUBSCRIPTIONS: usize = 20;
const INIT_TIMEOUT: Duration = Duration::from_secs(3);
/// Messages queued for a socket before the operations feeding it wait (a shared operation
/// does not wait: the socket leaves it with `SLOW_CONSUMER`). The queue takes memory only for
/// what is in it.
const QUEUE: usize = 256;
const READ_BUFFER: usize = 4 * 1024;
/// The largest message a client may send: a subscription document (64 KiB, as over HTTP)
/// with its variables.
const MAX_MESSAGE: usize = 128 * 1024;
/// A write the client does not take within this time ends the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /graphql/ws`.
pub async fn upgrade(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    // A browser sends no preflight before an upgrade: pages of foreign origins are refused
    // here, even though their token would still have to pass `connection_init`.
    if !super::browser::websocket_origin_allowed(&parts.headers, state.cors_origins()) {
        tracing::debug!(origin = ?parts.headers.get(axum::http::header::ORIGIN), "WebSocket upgrade from a foreign origin refused");
        return (
            axum::http::StatusCode::FORBIDDEN,
            "WebSocket connections from this origin are not allowed",
        )
            .into_response();
    }
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &state).await {
        Ok(protocol) => protocol,
        Err(refused) => return refused.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(refused) => return refused.into_response(),
    };
    let legacy = is_legacy(&parts.headers);
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0)
        .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let address = state
        .forwarded_for()
        .client_ip(&parts.headers, peer)
        .to_string();
    let header_token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(super::bearer)
        .map(str::to_string);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        // Clients send small protocol messages; the defaults (a 128 KiB read buffer, 64 MiB
        // messages) would cost every idle socket memory and let one client send huge frames.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| {
            handshake(
                state,
                Client {
                    protocol,
                    legacy,
                    header_token,
                    address,
                },
                socket,
            )
        })
}

/// Whether a request asks for a WebSocket (so `GET /graphql` hands it to [`upgrade`]).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The older `graphql-ws` protocol (subscriptions-transport-ws) was chosen: async-graphql
/// takes the first protocol it knows from the header.
fn is_legacy(headers: &HeaderMap) -> bool {
    let offered = headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    offered
        .split(',')
        .map(str::trim)
        .find(|p| *p == "graphql-transport-ws" || *p == "graphql-ws")
        == Some("graphql-ws")
}

struct Client {
    protocol: GraphQLProtocol,
    legacy: bool,
    header_token: Option<String>,
    /// The client's address, as the audit log records it.
    address: String,
}

async fn handshake(state: AppState, client: Client, socket: WebSocket) {
    let _open = state.socket_opened();
    let (mut sink, mut stream) = socket.split();
    let Some(_address_slot) = state.socket_slot(SocketOwner::Address(
        service::throttle::address_key(&client.address),
    )) else {
        return close(&mut sink, 4429, "Too many connections from this address").await;
    };
    let first = match tokio::time::timeout(INIT_TIMEOUT, first_text(&mut stream)).await {
        Err(_) => return close(&mut sink, 4408, "Connection initialisation timeout").await,
        Ok(None) => return,
        Ok(Some(text)) => text,
    };
    let Ok(message) = serde_json::from_str::<Value>(&first) else {
        return close(&mut sink, 4400, "Invalid message").await;
    };
    match message["type"].as_str() {
        Some("connection_init") => {}
        Some("subscribe") | Some("start") => return close(&mut sink, 4401, "Unauthorized").await,
        _ => return close(&mut sink, 4400, "Invalid message").await,
    }
    let token = message["payload"]
        .get("authorization")
        .or_else(|| message["payload"].get("Authorization"))
        .and_then(|v| v.as_str().and_then(super::bearer))
        .map(str::to_string)
        .or(client.header_token.clone());
    // Listening before the account is read: a session ended in between is still heard of.
    let ended = state.bus().sessions_ended();
    let (data, expires_at, account) = match connection_data(&state, token.as_deref()).await {
        Ok(accepted) => accepted,
        Err(reason) => {
            tracing::debug!(%reason, "subscription handshake refused");
            return close(&mut sink, 4403, "Forbidden").await;
        }
    };
    let Some(_user_slot) = state.socket_slot(SocketOwner::User(account.user_id)) else {
        return close(&mut sink, 4429, "Too many connections for this user").await;
    };
    let watch = SessionWatch {
        db: state.db().clone(),
        user_id: account.user_id,
        epoch: account.session_epoch,
        ended: Some(ended),
    };

    let session = Arc::new(Session {
        legacy: client.legacy,
        limits: *state.limits(),
        sharing: Some(Sharing {
            socket: state.hub().socket_number(),
            state: state.clone(),
            account: account.clone(),
            groups: Mutex::default(),
        }),
        ..Session::default()
    });
    let (queue, queued) = mpsc::channel::<Message>(QUEUE);
    // async-graphql writes into the queue; the writer below owns the socket.
    let to_queue =
        futures_util::sink::unfold(queue.clone(), |queue, message: Message| async move {
            queue.send(message).await.map(|_| queue)
        });
    let replayed = futures_util::stream::once(async move { Ok(Message::Text(first.into())) });
    let incoming = stream.filter_map({
        let session = session.clone();
        move |message| {
            let session = session.clone();
            let queue = queue.clone();
            async move { session.inspect(message, &queue).await }
        }
    });
    let serve = GraphQLWebSocket::new_with_pair(
        Box::pin(to_queue),
        replayed.chain(incoming),
        state.socket_schema().clone(),
        client.protocol,
    )
    .with_data(data)
    .serve();
    // The writer is a task of its own: a push wakes it alone, not the reading side too.
    let mut writer = tokio::spawn(write(
        sink,
        queued,
        session.clone(),
        state.closing(),
        expires_at,
        watch,
    ));
    tokio::select! {
        // The writer ended: the socket was closed or the client is gone.
        _ = &mut writer => {}
        // The operations ended (the client left or terminated): its shared operations stop
        // writing to it, and the writer flushes what is queued.
        _ = serve => {
            if let Some(sharing) = &session.sharing {
                sharing.leave_all();
            }
            let _ = writer.await;
        }
    }
}

/// What one connection keeps track of.
#[derive(Default)]
struct Session {
    legacy: bool,
    /// The document limits, checked when an operation is subscribed.
    limits: crate::graphql::extension::limits::Limits,
    /// Ids of the operations running now.
    active: Mutex<HashSet<String>>,
    /// Why the connection must close, once it must.
    close: Mutex<Option<(u16, String)>>,
    closed: Notify,
    /// The operations it runs in a group shared with other sockets.
    sharing: Option<Sharing>,
}

/// A socket's part in the shared operations (see [`shared`]).
struct Sharing {
    socket: u64,
    state: AppState,
    /// The account the socket signed in as, which its groups are keyed by.
    account: service::actor::Actor,
    /// Its operations run by a group, by id.
    groups: Mutex<HashMap<String, Arc<shared::Group>>>,
}

impl Sharing {
    /// Runs a subscribed operation in its group, when it is one that groups share.
    fn join(
        &self,
        id: &str,
        payload: &Value,
        document: &async_graphql::parser::types::ExecutableDocument,
        legacy: bool,
        queue: &mpsc::Sender<Message>,
    ) -> bool {
        let Some(shareable) = shared::shareable(&self.account, payload, document) else {
            return false;
        };
        let group = self.state.hub().join(
            self.state.socket_schema(),
            shareable,
            || socket_data(&self.state, &self.account),
            shared::Member {
                socket: self.socket,
                id: id.to_string(),
                legacy,
                queue: queue.clone(),
            },
        );
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), group);
        true
    }

    /// Takes an operation out of its group; false when no group runs it.
    fn leave(&self, id: &str) -> bool {
        let group = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        match group {
            Some(group) => {
                self.state.hub().leave(&group, self.socket, id);
                true
            }
            None => false,
        }
    }

    /// Takes every operation of the socket out of its group.
    fn leave_all(&self) {
        let groups = std::mem::take(&mut *self.groups.lock().unwrap_or_else(|e| e.into_inner()));
        for (id, group) in groups {
            self.state.hub().leave(&group, self.socket, &id);
        }
    }
}

impl Drop for Sharing {
    fn drop(&mut self) {
        self.leave_all();
    }
}

impl Session {
    fn close(&self, code: u16, reason: String) {
        let mut close = self.close.lock().unwrap_or_else(|e| e.into_inner());
        if close.is_none() {
            *close = Some((code, reason));
        }
        self.closed.notify_one();
    }

    /// Checks a client message; `None` drops it.
    async fn inspect(
        &self,
        message: Result<Message, axum::Error>,
        queue: &mpsc::Sender<Message>,
    ) -> Option<Result<Message, axum::Error>> {
        let text = match &message {
            Ok(Message::Text(text)) => text.to_string(),
            Ok(Message::Binary(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            _ => return Some(message),
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            self.close(4400, "Invalid message".into());
            return None;
        };
        let id = value["id"].as_str();
        match (value["type"].as_str(), id) {
            (Some("connection_init"), _) => {
                self.close(4429, "Too many initialisation requests".into());
                None
            }
            (Some("subscribe" | "start"), Some(id)) => {
                let refused = {
                    let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
                    if active.contains(id) {
                        self.close(4409, format!("Subscriber for {id} already exists"));
                        return None;
                    }
                    let full = active.len() >= MAX_SUBSCRIPTIONS;
                    if !full {
                        active.insert(id.to_string());
                    }
                    full
                };
                if refused {
                    let _ = queue
                        .send(self.refusal(id, TOO_MANY, ErrorCode::TooManySubscriptions))
                        .await;
                    return None;
                }
                let document = match self.runnable(&value["payload"]["query"]) {
                    Ok(document) => document,
                    Err((message, code)) => {
                        self.active
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(id);
                        let _ = queue.send(self.refusal(id, &message, code)).await;
                        return None;
                    }
                };
                if let Some(sharing) = &self.sharing {
                    // The id was free (the server sent its `complete`), so whatever group ran
                    // it before has let it go: forget that group, whoever runs the id now.
                    sharing.leave(id);
                    if let Some(document) = &document
                        && sharing.join(id, &value["payload"], document, self.legacy, queue)
                    {
                        return None;
                    }
                }
                Some(message)
            }
            (Some("complete" | "stop"), Some(id)) => {
                self.active
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(id);
                if self
                    .sharing
                    .as_ref()
                    .is_some_and(|sharing| sharing.leave(id))
                {
                    return None;
                }
                Some(message)
            }
            (Some("ping" | "pong" | "connection_terminate"), _) => Some(message),
            _ => {
                self.close(4400, "Invalid message".into());
                None
            }
        }
    }

    /// Whether a subscribed document may run: subscriptions only (queries and mutations go
    /// over HTTP, where the account is read again for every request, while a socket's account
    /// is read once, at connect), within the document limits. Checked here, once per operation,
    /// rather than by an extension of the socket schema, whose hooks would wrap the resolution
    /// of every field of every push. A document that does not parse is left to async-graphql's
    /// error. Returns the parsed document.
    fn runnable(
        &self,
        query: &Value,
    ) -> Result<Option<async_graphql::parser::types::ExecutableDocument>, (String, ErrorCode)> {
        let Some(Ok(document)) = query.as_str().map(async_graphql::parser::parse_query) else {
            return Ok(None);
        };
        if !document.operations.iter().all(|(_, operation)| {
            operation.node.ty == async_graphql::parser::types::OperationType::Subscription
        }) {
            return Err((SUBSCRIPTIONS_ONLY.to_string(), ErrorCode::BadRequest));
        }
        crate::graphql::extension::limits::check(&document, &self.limits).map_err(|error| {
            let code = error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .and_then(|code| match code {
                    async_graphql::Value::String(code) => ErrorCode::parse(code),
                    _ => None,
                })
                .unwrap_or(ErrorCode::BadRequest);
            (error.message, code)
        })?;
        Ok(Some(document))
    }

    /// The `error` answer to an operation that is not run.
    fn refusal(&self, id: &str, message: &str, code: ErrorCode) -> Message {
        let error = json!({
            "message": message,
            "extensions": { "code": code.as_str() },
        });
        let payload = if self.legacy { error } else { json!([error]) };
        Message::Text(
            json!({ "id": id, "type": "error", "payload": payload })
                .to_string()
                .into(),
        )
    }

    /// Notes what the server is about to send: an operation that completed or failed frees
    /// its id. Returns false for a `complete` of an operation the client completed itself,
    /// which the protocol does not echo (async-graphql does).
    fn sending(&self, message: &Message) -> bool {
        let Message::Text(text) = message else {
            return true;
        };
        if !text.contains("\"complete\"") && !text.contains("\"error\"") {
            return true;
        }
        if let Ok(value) = serde_json::from_str::<Value>(text)
            && let Some(kind @ ("complete" | "error")) = value["type"].as_str()
            && let Some(id) = value["id"].as_str()
        {
            let was_active = self
                .active
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
            return was_active || kind == "error";
        }
        true
    }
}

const TOO_MANY: &str = "at most 20 subscriptions may run on one connection";
const SUBSCRIPTIONS_ONLY: &str =
    "only subscriptions run over WebSocket; send queries and mutations to POST /graphql";

/// Watches for the end of the socket user's sessions.
struct SessionWatch {
    db: sea_orm::DatabaseConnection,
    user_id: uuid::Uuid,
    /// The session epoch the socket's token was issued under.
    epoch: i32,
    /// `None` once the bus is gone (the server is stopping).
    ended: Option<tokio::sync::broadcast::Receiver<uuid::Uuid>>,
}

impl SessionWatch {
    /// Waits until a notice may concern this socket's user (one for them, or one it missed).
    async fn notice(&mut self) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let Some(ended) = &mut self.ended else {
                return std::future::pending().await;
            };
            match ended.recv().await {
                Ok(user_id) if user_id == self.user_id => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => self.ended = None,
            }
        }
    }

    /// Whether the socket's session still holds: the account may sign in and its epoch is the
    /// token's. A database error keeps the socket (the next event re-checks the account).
    async fn holds(&self) -> bool {
        match service::auth::session_account(&self.db, self.user_id, self.epoch).await {
            Ok(_) => true,
            Err(err) => err.code() != ErrorCode::Unauthenticated,
        }
    }
}

/// Owns the socket: sends what was queued, and closes it with the reason that came first.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Message>,
    session: Arc<Session>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    expires_at: tokio::time::Instant,
    mut watch: SessionWatch,
) {
    let expiry = tokio::time::sleep_until(expires_at);
    tokio::pin!(expiry);
    let (code, reason) = loop {
        tokio::select! {
            message = queued.recv() => match message {
                Some(message) => {
                    if !session.sending(&message) {
                        continue;
                    }
                    let last = matches!(message, Message::Close(_));
                    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
                        Ok(Ok(())) if !last => {}
                        // Closed by async-graphql, the client is gone, or it stopped reading.
                        _ => return,
                    }
                }
                None => break (1000, String::new()),
            },
            _ = session.closed.notified() => {
                break session.close.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or((1000, String::new()));
            }
            _ = async { let _ = stopping.wait_for(|stopping| *stopping).await; } => {
                break (1012, "Service restart".into());
            }
            _ = &mut expiry => break (4403, "Forbidden: the access token expired".into()),
            () = watch.notice() => {
                if !watch.holds().await {
                    break (4403, "Forbidden: the session has ended".into());
                }
            }
        };
    };
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
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

/// The connection's viewer and loaders, when its token expires, and its account.
async fn connection_data(
    state: &AppState,
    token: Option<&str>,
) -> Result<(Data, tokio::time::Instant, service::actor::Actor), String> {
    let token = token.ok_or("send { \"authorization\": \"Bearer <token>\" } in connection_init")?;
    let (actor, expires) = service::auth::bearer_actor(state.db(), state.auth(), token)
        .await
        .map_err(|e| e.to_string())?;
    // An API token's socket lives until it closes (or the account's sessions end); an access
    // token's until the token expires.
    let left = match expires {
        Some(at) => (at.timestamp() - chrono::Utc::now().timestamp()).max(0) as u64,
        None => 365 * 24 * 3600,
    };
    let expires_at = tokio::time::Instant::now() + Duration::from_secs(left);
    Ok((socket_data(state, &actor), expires_at, actor))
}

/// What the operations of a socket signed in as `actor` run with.
fn socket_data(state: &AppState, actor: &service::actor::Actor) -> Data {
    let mut data = Data::default();
    // Loaders without a cache: a socket lives long, and every event must show current rows.
    let viewer = Viewer::signed_in(Some(actor.clone()));
    data.insert(Loaders::uncached(state.db(), &viewer));
    data.insert(viewer);
    data
}
