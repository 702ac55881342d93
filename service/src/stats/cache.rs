//! The statistics cache: Redis when configured (shared by every replica), in process
//! otherwise. Keys carry the statistics version of their scope (see [`super::version`]), so a
//! value computed before a change committed is never found after it; the TTL only bounds
//! memory.
//!
//! Redis is a cache here, never a dependency: when it does not answer, statistics are computed
//! from the database, the request succeeds, one warning is logged for the outage (not one per
//! request), and Redis is left alone for a few seconds before it is tried again.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;

/// How long Redis is left alone after it failed.
const BACKOFF: Duration = Duration::from_secs(2);
/// How long one cache command may take before the database is asked instead.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    /// The cache could not be asked (Redis down); computed from the database.
    Unavailable,
}

pub type Observer = Arc<dyn Fn(Outcome) + Send + Sync>;

enum Backend {
    Redis {
        conn: ConnectionManager,
        prefix: String,
    },
    Local(moka::future::Cache<String, Arc<str>>),
}

pub struct StatsCache {
    backend: Backend,
    ttl: Duration,
    observer: Observer,
    /// Since when Redis is considered down, if it is.
    down_since: Mutex<Option<Instant>>,
}

impl StatsCache {
    /// An in-process cache holding up to `capacity` values.
    pub fn local(ttl: Duration, capacity: u64, observer: Observer) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl.max(Duration::from_millis(1)))
            .build();
        Self::with(Backend::Local(cache), ttl, observer)
    }

    /// A Redis cache; keys start with `<prefix>:stats:`.
    pub fn redis(conn: ConnectionManager, prefix: &str, ttl: Duration, observer: Observer) -> Self {
        Self::with(
            Backend::Redis {
                conn,
                prefix: prefix.to_string(),
            },
            ttl,
            observer,
        )
    }

    fn with(backend: Backend, ttl: Duration, observer: Observer) -> Self {
        Self {
            backend,
            ttl,
            observer,
            down_since: Mutex::new(None),
        }
    }

    /// The cached value under `key`, or `compute`'s, stored for the next asker.
    pub async fn get_or_compute<T, F>(&self, key: &str, compute: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T>>,
    {
        if self.ttl.is_zero() {
            (self.observer)(Outcome::Miss);
            return compute.await;
        }
        let cached = match self.get(key).await {
            Ok(cached) => cached,
            Err(()) => {
                (self.observer)(Outcome::Unavailable);
                return compute.await;
            }
        };
        if let Some(value) = cached.and_then(|text| serde_json::from_str(&text).ok()) {
            (self.observer)(Outcome::Hit);
            return Ok(value);
        }
        (self.observer)(Outcome::Miss);
        let value = compute.await?;
        if let Ok(text) = serde_json::to_string(&value) {
            self.put(key, text).await;
        }
        Ok(value)
    }

    async fn get(&self, key: &str) -> std::result::Result<Option<Arc<str>>, ()> {
        match &self.backend {
            Backend::Local(cache) => Ok(cache.get(key).await),
            Backend::Redis { conn, prefix } => {
                if self.resting() {
                    return Err(());
                }
                let mut conn = conn.clone();
                let full = format!("{prefix}:stats:{key}");
                let answer =
                    tokio::time::timeout(COMMAND_TIMEOUT, conn.get::<_, Option<String>>(&full))
                        .await;
                match answer {
                    Ok(Ok(value)) => {
                        self.recovered();
                        Ok(value.map(Arc::from))
                    }
                    Ok(Err(err)) => {
                        self.failed(&err.to_string());
                        Err(())
                    }
                    Err(_) => {
                        self.failed("no answer in time");
                        Err(())
                    }
                }
            }
        }
    }

    async fn put(&self, key: &str, value: String) {
        match &self.backend {
            Backend::Local(cache) => cache.insert(key.to_string(), Arc::from(value)).await,
            Backend::Redis { conn, prefix } => {
                let mut conn = conn.clone();
                let full = format!("{prefix}:stats:{key}");
                let seconds = self.ttl.as_secs().max(1);
                let answer = tokio::time::timeout(
                    COMMAND_TIMEOUT,
                    conn.set_ex::<_, _, ()>(&full, value, seconds),
                )
                .await;
                match answer {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => self.failed(&err.to_string()),
                    Err(_) => self.failed("no answer in time"),
                }
            }
        }
    }

    /// Whether Redis failed recently enough to be left alone.
    fn resting(&self) -> bool {
        let down = self.down_since.lock().unwrap_or_else(|e| e.into_inner());
        down.is_some_and(|since| since.elapsed() < BACKOFF)
    }

    fn failed(&self, reason: &str) {
        let mut down = self.down_since.lock().unwrap_or_else(|e| e.into_inner());
        if down.is_none() {
            tracing::warn!(
                reason,
                "Redis is unavailable: statistics are computed from the database until it is back"
            );
        }
        *down = Some(Instant::now());
    }

    fn recovered(&self) {
        let mut down = self.down_since.lock().unwrap_or_else(|e| e.into_inner());
        if down.take().is_some() {
            tracing::info!("Redis is reachable again: statistics are cached again");
        }
    }
}
