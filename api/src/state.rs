//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;
use service::auth::Auth;

use crate::events::EventBus;
use crate::graphql::HelpdeskSchema;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    parts: Parts,
    draining: AtomicBool,
}

/// What the server is built from.
pub struct Parts {
    pub db: DatabaseConnection,
    /// The same pool, with its statements counted as background work.
    pub background_db: DatabaseConnection,
    pub redis: Option<ConnectionManager>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    pub schema: HelpdeskSchema,
    pub http: HttpOptions,
    pub bus: EventBus,
}

/// How the HTTP layer treats requests.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    pub graphiql: bool,
    pub max_batch: usize,
    pub trust_forwarded_for: bool,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        Self {
            inner: Arc::new(Inner {
                parts,
                draining: AtomicBool::new(false),
            }),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.parts.db
    }

    pub fn auth(&self) -> &Auth {
        &self.inner.parts.auth
    }

    pub fn redis(&self) -> Option<&ConnectionManager> {
        self.inner.parts.redis.as_ref()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.parts.metrics
    }

    pub fn schema(&self) -> &HelpdeskSchema {
        &self.inner.parts.schema
    }

    pub fn graphiql(&self) -> bool {
        self.inner.parts.http.graphiql
    }

    pub fn trust_forwarded_for(&self) -> bool {
        self.inner.parts.http.trust_forwarded_for
    }

    /// The pool, counted as background work.
    pub fn background_db(&self) -> &DatabaseConnection {
        &self.inner.parts.background_db
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.parts.bus
    }

    /// Most operations in one JSON batch.
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
}
