//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;
use service::auth::Auth;

use crate::graphql::HelpdeskSchema;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    auth: Arc<Auth>,
    redis: Option<ConnectionManager>,
    metrics: Arc<Metrics>,
    schema: HelpdeskSchema,
    http: HttpOptions,
    draining: AtomicBool,
}

/// How the HTTP layer treats requests.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    pub graphiql: bool,
    pub max_batch: usize,
    pub trust_forwarded_for: bool,
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        redis: Option<ConnectionManager>,
        auth: Arc<Auth>,
        metrics: Arc<Metrics>,
        schema: HelpdeskSchema,
        http: HttpOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                auth,
                redis,
                metrics,
                schema,
                http,
                draining: AtomicBool::new(false),
            }),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    pub fn redis(&self) -> Option<&ConnectionManager> {
        self.inner.redis.as_ref()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn schema(&self) -> &HelpdeskSchema {
        &self.inner.schema
    }

    pub fn graphiql(&self) -> bool {
        self.inner.http.graphiql
    }

    pub fn trust_forwarded_for(&self) -> bool {
        self.inner.http.trust_forwarded_for
    }

    /// Most operations in one JSON batch.
    pub fn max_batch(&self) -> usize {
        self.inner.http.max_batch
    }

    /// Marks the server as shutting down: `/readyz` answers 503 from now on.
    pub fn start_draining(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }
}
