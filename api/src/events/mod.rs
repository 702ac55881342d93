//! Getting committed events to subscribers: the relay reads the event log in order and
//! publishes each event to the bus, which every subscription listens to.
//!
//! The bus is in process (tokio broadcast) on the embedded default. With Redis configured the
//! relay publishes to a Redis channel instead, and every replica forwards that channel into its
//! own in-process bus, so a change made through one replica reaches the subscribers of all.
//! Redis only fans out: the log is the truth, and a subscriber that missed something (a Redis
//! outage, a reconnect) resumes from the log with `after`.
//!
//! In the same transaction the relay creates the webhook deliveries of the events; the
//! delivery worker sends them (see `service::webhook::deliver`).
//!
//! The relay is woken right after a request that ran a mutation (never by a read), and polls every
//! second as a safety net (for changes made by another process, or a wake-up that was missed).
//! An event is marked published in the transaction that claims it, after it was handed on; a
//! crash before the commit leaves it for the next pass, which hands it on again with the same
//! id (at least once).

use std::sync::Arc;
use std::time::Duration;

use entity::outbox_event;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, PubSub};
use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, Notify, broadcast};

use crate::metrics::Metrics;

/// Events waiting in a slow subscriber's buffer before it is cut off.
pub const BUS_CAPACITY: usize = 1024;
const BATCH: u64 = 200;
/// As many as one worker sends at once, so each claimed delivery is sent within its lease.
const DELIVERY_BATCH: u64 = service::webhook::deliver::CONCURRENCY as u64;
const POLL: Duration = Duration::from_secs(1);
/// Ended sessions waiting for slow sockets; a socket that falls behind re-checks its account.
const SESSIONS_CAPACITY: usize = 256;
/// The key of a fan-out message naming a user whose sessions ended.
const SESSIONS_ENDED: &str = "sessionsEnded";
const RECONNECT: Duration = Duration::from_secs(1);

pub type Event = Arc<outbox_event::Model>;

/// The event bus of one server.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    /// Users whose sessions just ended (password change, lock, role change): their sockets
    /// close. Fanned out through Redis like events, so every replica's sockets hear it.
    sessions: broadcast::Sender<uuid::Uuid>,
    wake: Arc<Notify>,
    /// Wakes the webhook worker.
    deliveries: Arc<Notify>,
    fanout: Option<Arc<Fanout>>,
    metrics: Arc<Metrics>,
}

/// Redis pub/sub between replicas.
pub struct Fanout {
    client: redis::Client,
    publisher: ConnectionManager,
    channel: String,
    /// The subscription made at startup (so the server listens before it serves), until the
    /// listener takes it.
    first: Mutex<Option<PubSub>>,
}

impl Fanout {
    /// Subscribes to `<prefix>:events` on the server at `url`; `publisher` is the shared
    /// connection the relay publishes on.
    pub async fn connect(
        url: &str,
        prefix: &str,
        publisher: ConnectionManager,
    ) -> Result<Self, service::redis::RedisConnectError> {
        let fail = |reason: String| service::redis::RedisConnectError {
            url: service::db::redact(url),
            reason,
        };
        let client = redis::Client::open(url).map_err(|e| fail(e.to_string()))?;
        let channel = format!("{prefix}:events");
        let pubsub = subscribe(&client, &channel)
            .await
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            client,
            publisher,
            channel,
            first: Mutex::new(Some(pubsub)),
        })
    }
}

async fn subscribe(client: &redis::Client, channel: &str) -> redis::RedisResult<PubSub> {
    let mut pubsub = tokio::time::timeout(Duration::from_secs(5), client.get_async_pubsub())
        .await
        .map_err(|_| {
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
        })??;
    pubsub.subscribe(channel).await?;
    Ok(pubsub)
}

/// A subscriber's view of the bus; counted in `helpdesk_subscriptions_active` while it lives.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Event>,
    metrics: Arc<Metrics>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.metrics.subscription_ended();
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

impl EventBus {
    pub fn new(metrics: Arc<Metrics>, fanout: Option<Fanout>) -> Self {
        let (sender, _) = broadcast::channel(BUS_CAPACITY);
        let (sessions, _) = broadcast::channel(SESSIONS_CAPACITY);
        Self {
            sender,
            sessions,
            wake: Arc::new(Notify::new()),
            deliveries: Arc::new(Notify::new()),
            fanout: fanout.map(Arc::new),
            metrics,
        }
    }

    pub fn subscribe(&self) -> Subscription {
        self.metrics.subscription_started();
        Subscription {
            receiver: self.sender.subscribe(),
            metrics: self.metrics.clone(),
        }
    }

    /// Tells every socket of `user_id`, on every replica, that the user's sessions ended; each
    /// re-reads the account and closes with 4403 when its token's session is over.
    pub async fn end_sessions(&self, user_id: uuid::Uuid) {
        if let Some(fanout) = &self.fanout {
            let message = serde_json::json!({ SESSIONS_ENDED: user_id }).to_string();
            let published: redis::RedisResult<()> = redis::cmd("PUBLISH")
                .arg(&fanout.channel)
                .arg(message)
                .query_async(&mut fanout.publisher.clone())
                .await;
            if let Err(err) = published {
                tracing::warn!(
                    error = %err,
                    "cannot tell other replicas that sessions ended; their sockets close at the next event or token expiry"
                );
            }
        }
        // This replica's sockets hear it directly too, even while its Redis subscription is
        // reconnecting; a socket that hears it twice checks its account twice.
        let _ = self.sessions.send(user_id);
    }

    /// Listens for ended sessions.
    pub fn sessions_ended(&self) -> broadcast::Receiver<uuid::Uuid> {
        self.sessions.subscribe()
    }

    /// Asks the relay to look at the log now.
    pub fn wake_relay(&self) {
        self.wake.notify_one();
    }

    /// Asks the webhook worker to look for due deliveries now.
    pub fn wake_deliveries(&self) {
        self.deliveries.notify_one();
    }

    /// Sends due webhook deliveries until the task is dropped: woken when the relay queued
    /// some, and every second for retries that came due.
    pub async fn deliver(
        self,
        deliverer: service::webhook::deliver::Deliverer,
        db: DatabaseConnection,
    ) {
        let db = &db;
        let deliverer = &deliverer;
        work(
            &self.deliveries,
            DELIVERY_BATCH,
            "delivering webhooks",
            || async move {
                deliverer
                    .run_due(db, chrono::Utc::now(), DELIVERY_BATCH)
                    .await
            },
        )
        .await
    }

    /// Runs the relay (and, with Redis, the listener) until the task is dropped.
    pub async fn run(self, db: DatabaseConnection) {
        let listener = self.fanout.clone().map(|fanout| {
            let sender = self.sender.clone();
            let sessions = self.sessions.clone();
            tokio::spawn(listen(fanout, sender, sessions))
        });
        struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                if let Some(task) = &self.0 {
                    task.abort();
                }
            }
        }
        let _listener = AbortOnDrop(listener);
        let db = &db;
        work(&self.wake, BATCH, "relaying events", || {
            self.relay_batch(db)
        })
        .await
    }

    /// Claims a batch of unpublished events, hands them on, and marks them published.
    async fn relay_batch(&self, db: &DatabaseConnection) -> Result<usize, Failure> {
        let txn = service::db::begin_write(db).await?;
        let events = service::event::claim_unpublished(&txn, BATCH).await?;
        let mut queued = 0;
        if !events.is_empty() {
            queued = service::webhook::enqueue(&txn, &events).await?;
            // Published before the commit: when Redis fails, the whole batch is retried, so
            // no subscriber misses an event (webhook deliveries wait for the retry too).
            self.publish(&events).await?;
            service::event::mark_published(&txn, &events).await?;
        }
        txn.commit().await?;
        if queued > 0 {
            self.wake_deliveries();
        }
        Ok(events.len())
    }

    async fn publish(&self, events: &[outbox_event::Model]) -> Result<(), Failure> {
        match &self.fanout {
            None => {
                for event in events {
                    // No subscriber is not an error: the log keeps the event.
                    let _ = self.sender.send(Arc::new(event.clone()));
                }
            }
            Some(fanout) => {
                let mut pipe = redis::pipe();
                for event in events {
                    pipe.cmd("PUBLISH")
                        .arg(&fanout.channel)
                        .arg(serde_json::to_string(event)?)
                        .ignore();
                }
                pipe.query_async::<()>(&mut fanout.publisher.clone())
                    .await?;
            }
        }
        Ok(())
    }
}

/// Runs `batch` until it does less than a full batch, then waits to be woken (or one poll
/// interval), forever.
async fn work<F, Fut, E>(wake: &Notify, full: u64, what: &str, mut batch: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, E>>,
    E: std::fmt::Display,
{
    loop {
        loop {
            match batch().await {
                Ok(count) if count as u64 == full => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "{what} failed; retrying");
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(POLL, wake.notified()).await;
    }
}

/// Forwards the Redis channel into the in-process bus, reconnecting when the connection drops.
async fn listen(
    fanout: Arc<Fanout>,
    sender: broadcast::Sender<Event>,
    sessions: broadcast::Sender<uuid::Uuid>,
) {
    let mut pubsub = fanout.first.lock().await.take();
    loop {
        let mut current = match pubsub.take() {
            Some(current) => current,
            None => match subscribe(&fanout.client, &fanout.channel).await {
                Ok(current) => {
                    tracing::info!("event fan-out subscription to Redis restored");
                    current
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot subscribe to Redis for events; retrying");
                    tokio::time::sleep(RECONNECT).await;
                    continue;
                }
            },
        };
        let mut messages = current.on_message();
        while let Some(message) = messages.next().await {
            let text = message.get_payload::<String>().unwrap_or_default();
            if let Ok(event) = serde_json::from_str::<outbox_event::Model>(&text) {
                let _ = sender.send(Arc::new(event));
            } else if let Some(user_id) = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get(SESSIONS_ENDED)?.as_str()?.parse::<uuid::Uuid>().ok())
            {
                let _ = sessions.send(user_id);
            } else {
                tracing::warn!("ignoring a message on the event channel that is not an event");
            }
        }
        tracing::warn!(
            "lost the Redis event subscription; reconnecting (subscribers resume from the log)"
        );
    }
}
