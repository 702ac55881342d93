//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;
use service::auth::Auth;

use crate::events::EventBus;
use crate::graphql::{HelpdeskSchema, Limits, Schemas};
use crate::http::client_addr::ForwardedFor;
use crate::http::ws::shared::Hub;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    parts: Parts,
    draining: AtomicBool,
    /// Set when open subscription sockets must close (the server is stopping).
    closing: tokio::sync::watch::Sender<bool>,
    /// Subscription sockets open now.
    sockets: tokio::sync::watch::Sender<usize>,
    /// Open sockets per client address and per user, for their caps.
    owners: std::sync::Mutex<std::collections::HashMap<SocketOwner, usize>>,
    /// Documents of automatic persisted queries, by the hex SHA-256 of their text.
    persisted_queries: moka::future::Cache<String, Arc<str>>,
    /// Documents parsed before, by their text: see [`AppState::documents`].
    documents: moka::future::Cache<String, Arc<crate::http::graphql::Parsed>>,
    /// The account each bearer credential named on its last request: see
    /// [`AppState::known_accounts`].
    known_accounts: moka::future::Cache<[u8; 32], service::actor::Actor>,
    /// The subscription operations that groups of sockets share.
    hub: Arc<Hub>,
}

/// Bytes of documents the persisted-query cache holds at most.
const PERSISTED_QUERY_BYTES: u64 = 32 * 1024 * 1024;

/// Bytes the document cache holds at most, each document weighed as its text times
/// [`PARSED_BYTES_PER_BYTE`]: a parsed field takes up to a hundred or so bytes per byte of
/// text (`{ a a a ... }`), so this is about 640 KiB of text, a few thousand documents.
const PARSED_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;
const PARSED_BYTES_PER_BYTE: usize = 100;

/// Bearer credentials whose last account is kept, and for how long unused.
const KNOWN_ACCOUNTS: u64 = 10_000;
const KNOWN_ACCOUNT_IDLE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Who a subscription socket counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocketOwner {
    Address(String),
    User(uuid::Uuid),
}

/// What the server is built from.
pub struct Parts {
    pub db: DatabaseConnection,
    /// The same pool, with its statements counted as background work.
    pub background_db: DatabaseConnection,
    /// Seals and opens secrets at rest.
    pub keyring: Arc<service::crypto::Keyring>,
    pub redis: Option<ConnectionManager>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    pub schemas: Schemas,
    /// Largest `/graphql` response body, in bytes.
    pub max_response_bytes: usize,
    /// Bounds on a document's shape, checked by `/graphql` before it runs.
    pub limits: Limits,
    pub http: HttpOptions,
    pub bus: EventBus,
    pub attachments: Arc<service::attachment::Attachments>,
    /// Sends notices by email; none without an SMTP server.
    pub mailer: Option<service::notification::mail::Mailer>,
}

/// How the HTTP layer treats requests.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub graphiql: bool,
    pub max_batch: usize,
    /// Other origins whose pages may call the API (CORS) and open subscriptions.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    pub max_sockets_per_user: usize,
    pub max_sockets_per_address: usize,
    /// Which `X-Forwarded-For` entries name the client.
    pub forwarded_for: ForwardedFor,
    /// `/metrics` has a listener of its own, and the main router does not serve it.
    pub separate_metrics: bool,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        let hub = Arc::new(Hub::new(parts.metrics.clone()));
        Self {
            inner: Arc::new(Inner {
                hub,
                parts,
                draining: AtomicBool::new(false),
                closing: tokio::sync::watch::Sender::new(false),
                sockets: tokio::sync::watch::Sender::new(0),
                owners: Default::default(),
                persisted_queries: moka::future::Cache::builder()
                    .weigher(|hash: &String, query: &Arc<str>| {
                        u32::try_from(hash.len() + query.len()).unwrap_or(u32::MAX)
                    })
                    .max_capacity(PERSISTED_QUERY_BYTES)
                    .build(),
                documents: moka::future::Cache::builder()
                    .weigher(|text: &String, _: &Arc<crate::http::graphql::Parsed>| {
                        u32::try_from(text.len().saturating_mul(PARSED_BYTES_PER_BYTE))
                            .unwrap_or(u32::MAX)
                    })
                    .max_capacity(PARSED_DOCUMENT_BYTES)
                    .build(),
                known_accounts: moka::future::Cache::builder()
                    .max_capacity(KNOWN_ACCOUNTS)
                    .time_to_idle(KNOWN_ACCOUNT_IDLE)
                    .build(),
            }),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.parts.db
    }

    pub fn keyring(&self) -> &Arc<service::crypto::Keyring> {
        &self.inner.parts.keyring
    }

    pub fn auth(&self) -> &Auth {
        &self.inner.parts.auth
    }

    pub fn redis(&self) -> Option<&ConnectionManager> {
        self.inner.parts.redis.as_ref()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.parts.metrics
    }

    /// The schema `/graphql` runs.
    pub fn schema(&self) -> &HelpdeskSchema {
        &self.inner.parts.schemas.requests
    }

    /// The schema subscription sockets run.
    pub fn socket_schema(&self) -> &HelpdeskSchema {
        &self.inner.parts.schemas.sockets
    }

    pub fn max_response_bytes(&self) -> usize {
        self.inner.parts.max_response_bytes
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.parts.limits
    }

    pub fn graphiql(&self) -> bool {
        self.inner.parts.http.graphiql
    }

    /// Other origins whose pages may call the API and open subscriptions.
    pub fn cors_origins(&self) -> &[axum::http::HeaderValue] {
        &self.inner.parts.http.cors_origins
    }

    pub fn forwarded_for(&self) -> &ForwardedFor {
        &self.inner.parts.http.forwarded_for
    }

    pub fn separate_metrics(&self) -> bool {
        self.inner.parts.http.separate_metrics
    }

    /// The pool, counted as background work.
    pub fn background_db(&self) -> &DatabaseConnection {
        &self.inner.parts.background_db
    }

    pub fn mailer(&self) -> Option<&service::notification::mail::Mailer> {
        self.inner.parts.mailer.as_ref()
    }

    pub fn attachments(&self) -> &Arc<service::attachment::Attachments> {
        &self.inner.parts.attachments
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.parts.bus
    }

    /// The subscription operations that groups of sockets share.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// Most operations in one JSON batch.
    /// Documents of automatic persisted queries, by the hex SHA-256 of their text.
    pub fn persisted_queries(&self) -> &moka::future::Cache<String, Arc<str>> {
        &self.inner.persisted_queries
    }

    /// The account (role, memberships, session) each bearer credential named when it was last
    /// checked, by the SHA-256 of the token. Only a guess: a query runs as that
    /// account while the credential is checked again, and its answer is sent only if the check
    /// finds the same account ([`crate::http::graphql`]).
    pub fn known_accounts(&self) -> &moka::future::Cache<[u8; 32], service::actor::Actor> {
        &self.inner.known_accounts
    }

    /// Documents parsed before, by their text. Clients send the same few documents over and
    /// over, and parsing one (async-graphql's parser, built on pest) cost a dashboard read
    /// about a sixteenth of its CPU; a copy of the parsed document costs a small part of that.
    pub fn documents(&self) -> &moka::future::Cache<String, Arc<crate::http::graphql::Parsed>> {
        &self.inner.documents
    }

    pub fn max_batch(&self) -> usize {
        self.inner.parts.http.max_batch
    }

    /// Marks the server as shutting down: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Tells every subscription socket to close (with 1012, the server is restarting).
    pub fn close_sockets(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Resolves once `close_sockets` was called.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Counts a subscription socket as open until the guard is dropped.
    pub fn socket_opened(&self) -> SocketGuard {
        self.inner.sockets.send_modify(|n| *n += 1);
        self.metrics().socket_opened();
        SocketGuard(self.clone())
    }

    /// Resolves when no subscription socket is open.
    pub async fn sockets_closed(&self) {
        let mut open = self.inner.sockets.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }
}

impl AppState {
    /// Counts a socket against its owner's cap until the slot is dropped; `None` when the
    /// owner has as many open as allowed.
    pub fn socket_slot(&self, owner: SocketOwner) -> Option<SocketSlot> {
        let cap = match owner {
            SocketOwner::Address(_) => self.inner.parts.http.max_sockets_per_address,
            SocketOwner::User(_) => self.inner.parts.http.max_sockets_per_user,
        };
        let mut owners = self.inner.owners.lock().unwrap_or_else(|e| e.into_inner());
        if owners.get(&owner).copied().unwrap_or(0) >= cap {
            return None;
        }
        *owners.entry(owner.clone()).or_insert(0) += 1;
        Some(SocketSlot(self.clone(), owner))
    }
}

/// A socket counted against its owner's cap; see [`AppState::socket_slot`].
pub struct SocketSlot(AppState, SocketOwner);

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut owners = self
            .0
            .inner
            .owners
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(open) = owners.get_mut(&self.1) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                owners.remove(&self.1);
            }
        }
    }
}

/// An open subscription socket; see [`AppState::socket_opened`].
pub struct SocketGuard(AppState);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.inner.sockets.send_modify(|n| *n -= 1);
        self.0.metrics().socket_closed();
    }
}
