//! Getting committed events to subscribers: the relay (`service::event::relay`) publishes the
//! log in commit order, numbering every event with a log-wide `position`, and this module hands
//! what it published to the subscriptions of this server and, through Redis, of every replica.
//!
//! - **In order, without gaps.** Events enter this server's bus through one [`Forwarder`], in
//!   position order. An event whose predecessors did not arrive (a Redis message lost in an
//!   outage or a reconnect, a replica whose relay stopped between its commit and its publish) is
//!   preceded by the missing ones, read from the log. With Redis, every second and right after
//!   the subscription is restored, the forwarder also reads whatever the log has beyond the
//!   last position it forwarded. When the log cannot be read the subscriptions are told
//!   (`RESUBSCRIBE`, with the position to resume after) instead of silently missing events.
//! - **Redis only fans out.** This server's own events reach its subscribers directly; Redis
//!   carries them to the other replicas. The relay publishes to Redis after its transaction
//!   commits, so webhook deliveries never wait for Redis, and a Redis outage slows the other
//!   replicas' subscribers to the one-second read of the log instead of stopping them.
//! - **One decision per event and account.** An event is shared by every subscription as a
//!   [`Published`]: before a batch of events goes out, their tickets and the accounts
//!   subscribed now are read once (two statements), so whether an account may receive an event
//!   is decided once per distinct account, with its current role and memberships, whatever the
//!   number of that account's subscriptions.
//!
//! The relay is woken right after a request that ran a mutation (never by a read), and polls
//! every second as a safety net (for changes made by another process, or a wake-up that was
//! missed). A crash before the relay's commit leaves the events for the next pass (at least
//! once, with the same id and `webhook-id`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::{outbox_event, ticket};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, PubSub};
use sea_orm::DatabaseConnection;
use service::actor::Actor;
use tokio::sync::{Mutex, Notify, OnceCell, broadcast};

use crate::metrics::Metrics;

/// Messages waiting in a slow subscriber's buffer before it is cut off.
pub const BUS_CAPACITY: usize = 1024;
const BATCH: u64 = 200;
/// Deliveries one worker claims at once (see `service::webhook::deliver::run_due`).
const DELIVERY_BATCH: u64 = service::webhook::deliver::BATCH;
const POLL: Duration = Duration::from_secs(1);
/// Ended sessions waiting for slow sockets; a socket that falls behind re-checks its account.
const SESSIONS_CAPACITY: usize = 256;
/// The key of a fan-out message naming a user whose sessions ended.
const SESSIONS_ENDED: &str = "sessionsEnded";
const RECONNECT: Duration = Duration::from_secs(1);
/// How long the relay waits for Redis to take a batch before it goes on without it.
const FANOUT_TIMEOUT: Duration = Duration::from_secs(2);

/// An event as every subscription of this server shares it.
pub type Event = Arc<Published>;

/// What the bus carries, in position order.
#[derive(Clone)]
pub enum Delivery {
    Event(Event),
    /// The events after this position could not be forwarded (the log could not be read):
    /// every subscription ends with `RESUBSCRIBE` and resumes with `after`.
    Gap {
        after: i64,
    },
}

/// A published event, with what subscriptions decide about it, decided once.
pub struct Published {
    pub event: outbox_event::Model,
    /// The event's ticket as it is when the first subscription asks (`None`: deleted).
    ticket: OnceCell<Option<ticket::Model>>,
    /// Per account and session: the account as it is now, or why its subscriptions end.
    accounts: std::sync::Mutex<HashMap<SessionKey, Arc<AccountCell>>>,
}

/// An account and the session epoch its subscriptions were made in.
type SessionKey = (uuid::Uuid, i32);
/// An account as it is now, or why its subscriptions end.
type Account = Result<Actor, async_graphql::Error>;
type AccountCell = OnceCell<Account>;

impl Published {
    pub fn new(event: outbox_event::Model) -> Self {
        Self {
            event,
            ticket: OnceCell::new(),
            accounts: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// With what was read for the whole batch already: the event's ticket and the accounts
    /// subscribed now (a subscription made later reads its account itself).
    fn prepared(
        event: outbox_event::Model,
        tickets: &HashMap<uuid::Uuid, ticket::Model>,
        accounts: &[(SessionKey, Account)],
    ) -> Self {
        let ticket = OnceCell::new_with(Some(tickets.get(&event.ticket_id).cloned()));
        let accounts = accounts
            .iter()
            .map(|(key, account)| (*key, Arc::new(OnceCell::new_with(Some(account.clone())))))
            .collect();
        Self {
            event,
            ticket,
            accounts: std::sync::Mutex::new(accounts),
        }
    }

    pub fn position(&self) -> i64 {
        self.event.position.unwrap_or_default()
    }

    /// The subscriber's account as it is now, read once per event for all its subscriptions;
    /// an error (`UNAUTHENTICATED`) once the session the subscription was made in has ended,
    /// or the account is gone, locked or unapproved.
    pub async fn account(
        &self,
        db: &DatabaseConnection,
        viewer: &Actor,
    ) -> Result<Actor, async_graphql::Error> {
        let cell = {
            let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
            accounts
                .entry((viewer.user_id, viewer.session_epoch))
                .or_default()
                .clone()
        };
        cell.get_or_init(|| async {
            use crate::graphql::error::ResultExt;
            service::auth::session_account(db, viewer.user_id, viewer.session_epoch)
                .await
                .gql()
        })
        .await
        .clone()
    }

    /// The event's ticket as it is now (read once per event), when `account` (as it is now)
    /// may receive the event: the change feed's rules. `None` otherwise.
    pub async fn ticket_for(
        &self,
        db: &DatabaseConnection,
        account: &Actor,
    ) -> Result<Option<&ticket::Model>, async_graphql::Error> {
        if !service::access::can_see_event(account, self.event.internal) {
            return Ok(None);
        }
        let ticket = self
            .ticket
            .get_or_try_init(|| async {
                use sea_orm::EntityTrait;
                ticket::Entity::find_by_id(self.event.ticket_id)
                    .one(db)
                    .await
            })
            .await
            .map_err(|err| crate::graphql::error::gql(err.into()))?;
        Ok(ticket
            .as_ref()
            .filter(|t| service::access::can_read(account, t)))
    }
}

/// The event bus of one server.
#[derive(Clone)]
pub struct EventBus {
    forwarder: Arc<Forwarder>,
    /// Users whose sessions just ended (password change, lock, role change): their sockets
    /// close. Fanned out through Redis like events, so every replica's sockets hear it.
    sessions: broadcast::Sender<uuid::Uuid>,
    wake: Arc<Notify>,
    /// Wakes the webhook worker.
    deliveries: Arc<Notify>,
    /// Wakes the mailer.
    mail: Arc<Notify>,
    /// Notices by email are queued (an SMTP server is configured).
    email: bool,
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
    pub receiver: broadcast::Receiver<Delivery>,
    /// Where it is counted; `None` when it is not.
    metrics: Option<Arc<Metrics>>,
    /// The account it counts in, for [`EventBus::subscribe_as`].
    member: Option<(Arc<Audience>, SessionKey)>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(metrics) = self.metrics.take() {
            metrics.subscription_ended();
        }
        if let Some((audience, key)) = self.member.take() {
            audience.leave(key);
        }
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The one way into this server's bus: forwards events in position order, each once, reading
/// from the log what did not arrive.
struct Forwarder {
    sender: broadcast::Sender<Delivery>,
    /// The last position forwarded; `None` until the relay task has read where the log ends.
    last: Mutex<Option<i64>>,
    audience: Arc<Audience>,
    metrics: Arc<Metrics>,
}

/// The accounts (and sessions) with a subscription on this server now, each with how many.
#[derive(Default)]
struct Audience(std::sync::Mutex<HashMap<SessionKey, usize>>);

impl Audience {
    fn join(&self, key: SessionKey) {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    fn leave(&self, key: SessionKey) {
        let mut accounts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = accounts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                accounts.remove(&key);
            }
        }
    }

    fn now(&self) -> Vec<SessionKey> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }
}

impl Forwarder {
    /// Starts after the end of the log as it is now: subscriptions made from here on get
    /// every later event.
    async fn start(&self, db: &DatabaseConnection) {
        loop {
            match service::event::last_position(db).await {
                Ok(position) => {
                    *self.last.lock().await = Some(position);
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read where the event log ends; retrying");
                    tokio::time::sleep(RECONNECT).await;
                }
            }
        }
    }

    /// Forwards `events` (in position order), first reading from the log any that precede
    /// them and were not forwarded.
    async fn offer(&self, db: &DatabaseConnection, events: Vec<outbox_event::Model>) {
        let mut last = self.last.lock().await;
        let Some(current) = *last else {
            // Not started: the start reads past these.
            return;
        };
        let mut current = current;
        let events: Vec<_> = events
            .into_iter()
            .filter(|e| e.position.is_some_and(|p| p > current))
            .collect();
        for published in self.prepare(db, events).await {
            let position = published.position();
            if position <= current {
                continue;
            }
            if position > current + 1 {
                self.read_log(db, current, Some(position)).await;
            }
            let _ = self.sender.send(Delivery::Event(Arc::new(published)));
            current = position;
        }
        *last = Some(current);
    }

    /// Reads, once for a batch of events, what every subscription will ask of them: their
    /// tickets, and the accounts subscribed now. Nothing when no one listens; a failed read
    /// leaves each subscription to read for itself.
    async fn prepare(
        &self,
        db: &DatabaseConnection,
        events: Vec<outbox_event::Model>,
    ) -> Vec<Published> {
        let accounts = self.audience.now();
        if events.is_empty() || accounts.is_empty() {
            return events.into_iter().map(Published::new).collect();
        }
        let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.ticket_id).collect();
        let tickets = {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            ticket::Entity::find()
                .filter(ticket::Column::Id.is_in(ids))
                .all(db)
                .await
        };
        let accounts = service::auth::session_accounts(db, &accounts).await;
        match (tickets, accounts) {
            (Ok(tickets), Ok(accounts)) => {
                let tickets: HashMap<_, _> = tickets.into_iter().map(|t| (t.id, t)).collect();
                let accounts: Vec<_> = accounts
                    .into_iter()
                    .map(|(key, account)| (key, account.map_err(crate::graphql::error::gql)))
                    .collect();
                events
                    .into_iter()
                    .map(|event| Published::prepared(event, &tickets, &accounts))
                    .collect()
            }
            _ => events.into_iter().map(Published::new).collect(),
        }
    }

    /// Forwards whatever the log has beyond the last position forwarded.
    async fn catch_up(&self, db: &DatabaseConnection) {
        let mut last = self.last.lock().await;
        if let Some(current) = *last {
            *last = Some(self.read_log(db, current, None).await);
        }
    }

    /// Forwards the published events after `after` (and before `before`) from the log;
    /// returns the last position forwarded. When the log cannot be read, subscriptions are
    /// told to resume, and forwarding goes on from `before`.
    async fn read_log(&self, db: &DatabaseConnection, after: i64, before: Option<i64>) -> i64 {
        let mut current = after;
        loop {
            let wanted = before.map_or(BATCH, |b| (b - current - 1).clamp(0, BATCH as i64) as u64);
            if wanted == 0 {
                return current;
            }
            match service::event::published_after(db, current, wanted).await {
                Ok(events) => {
                    let count = events.len();
                    if count > 0 {
                        self.metrics.record_replayed_events(count);
                    }
                    for published in self.prepare(db, events).await {
                        let position = published.position();
                        if before.is_some_and(|before| position >= before) {
                            break;
                        }
                        current = position;
                        let _ = self.sender.send(Delivery::Event(Arc::new(published)));
                    }
                    if (count as u64) < wanted {
                        // The rest of a gap was removed by retention: nothing more to read.
                        return before.map_or(current, |b| b - 1);
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, after = current, "cannot read missed events from the log; subscriptions resume by themselves");
                    let _ = self.sender.send(Delivery::Gap { after: current });
                    return before.map_or(current, |b| b - 1);
                }
            }
        }
    }
}

impl EventBus {
    pub fn new(metrics: Arc<Metrics>, fanout: Option<Fanout>) -> Self {
        let (sender, _) = broadcast::channel(BUS_CAPACITY);
        let (sessions, _) = broadcast::channel(SESSIONS_CAPACITY);
        Self {
            forwarder: Arc::new(Forwarder {
                sender,
                last: Mutex::new(None),
                audience: Arc::new(Audience::default()),
                metrics: metrics.clone(),
            }),
            sessions,
            wake: Arc::new(Notify::new()),
            deliveries: Arc::new(Notify::new()),
            mail: Arc::new(Notify::new()),
            email: false,
            fanout: fanout.map(Arc::new),
            metrics,
        }
    }

    /// Queues notices by email too (call before the bus is cloned).
    pub fn with_email(mut self, on: bool) -> Self {
        self.email = on;
        self
    }

    /// Sends due mails until the task is dropped: woken when the relay queued some, and every
    /// second for retries that came due.
    pub async fn mail(self, mailer: service::notification::mail::Mailer, db: DatabaseConnection) {
        loop {
            loop {
                match service::notification::mail::send_due(
                    &db,
                    &mailer,
                    chrono::Utc::now(),
                    DELIVERY_BATCH,
                )
                .await
                {
                    Ok(round) => {
                        self.metrics.record_attempts(
                            false,
                            round.sent,
                            round.retrying,
                            round.failed,
                        );
                        if round.sent + round.retrying + round.failed < DELIVERY_BATCH {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "sending mail failed; retrying");
                        break;
                    }
                }
            }
            let _ = tokio::time::timeout(POLL, self.mail.notified()).await;
        }
    }

    pub fn subscribe(&self) -> Subscription {
        self.listen(true)
    }

    /// A subscription, counted in `helpdesk_subscriptions_active` when `counted`.
    fn listen(&self, counted: bool) -> Subscription {
        let metrics = counted.then(|| {
            self.metrics.subscription_started();
            self.metrics.clone()
        });
        Subscription {
            receiver: self.forwarder.sender.subscribe(),
            metrics,
            member: None,
        }
    }

    /// A subscription whose events are checked against `viewer`'s account: the account is
    /// then read once per batch of events for all its subscriptions, before they are sent.
    pub fn subscribe_as(&self, viewer: &Actor) -> Subscription {
        self.listen_as(viewer, true)
    }

    /// [`EventBus::subscribe_as`] for an operation that a group of sockets shares: not
    /// counted in `helpdesk_subscriptions_active`, whose count is the group's members.
    pub fn subscribe_shared_as(&self, viewer: &Actor) -> Subscription {
        self.listen_as(viewer, false)
    }

    fn listen_as(&self, viewer: &Actor, counted: bool) -> Subscription {
        let key = (viewer.user_id, viewer.session_epoch);
        self.forwarder.audience.join(key);
        let mut subscription = self.listen(counted);
        subscription.member = Some((self.forwarder.audience.clone(), key));
        subscription
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
        loop {
            loop {
                match deliverer
                    .run_round(db, chrono::Utc::now(), DELIVERY_BATCH)
                    .await
                {
                    Ok(round) => {
                        self.metrics.record_attempts(
                            true,
                            round.delivered,
                            round.retrying,
                            round.failed,
                        );
                        if (round.claimed as u64) < DELIVERY_BATCH {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "delivering webhooks failed; retrying");
                        break;
                    }
                }
            }
            let _ = tokio::time::timeout(POLL, self.deliveries.notified()).await;
        }
    }

    /// Runs the relay (and, with Redis, the listener) until the task is dropped.
    pub async fn run(self, db: DatabaseConnection) {
        self.forwarder.start(&db).await;
        let listener = self.fanout.clone().map(|fanout| {
            tokio::spawn(listen(
                fanout,
                self.forwarder.clone(),
                self.sessions.clone(),
                self.metrics.clone(),
                db.clone(),
            ))
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
        let mut checked = Instant::now();
        loop {
            loop {
                match self.relay_batch(&db).await {
                    Ok(count) if count as u64 == BATCH => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "relaying events failed; retrying");
                        break;
                    }
                }
            }
            // Once a second, with replicas: what another one published that did not reach
            // this one. (Without Redis there are no other replicas' events to miss.)
            if self.fanout.is_some() && checked.elapsed() >= POLL {
                self.forwarder.catch_up(&db).await;
                checked = Instant::now();
            }
            let _ = tokio::time::timeout(POLL, self.wake.notified()).await;
        }
    }

    /// One pass of the relay; then its events go to this server's subscriptions and, through
    /// Redis, to the other replicas'.
    async fn relay_batch(&self, db: &DatabaseConnection) -> Result<usize, Failure> {
        let relayed = service::event::relay::publish_next(db, BATCH, self.email).await?;
        if relayed.deliveries > 0 {
            self.wake_deliveries();
        }
        if relayed.notifications > 0 && self.email {
            self.mail.notify_one();
        }
        let count = relayed.events.len();
        if count == 0 {
            return Ok(0);
        }
        let events = relayed.events;
        if let Some(fanout) = &self.fanout {
            let mut pipe = redis::pipe();
            for event in &events {
                pipe.cmd("PUBLISH")
                    .arg(&fanout.channel)
                    .arg(serde_json::to_string(event)?)
                    .ignore();
            }
            // This server's subscribers first: they never wait for Redis.
            self.forwarder.offer(db, events).await;
            let published = tokio::time::timeout(
                FANOUT_TIMEOUT,
                pipe.query_async::<()>(&mut fanout.publisher.clone()),
            )
            .await;
            if !matches!(published, Ok(Ok(()))) {
                // The events are in the log: the other replicas read them from there within
                // a second.
                self.metrics.record_fanout_failure();
                let reason = match published {
                    Ok(Err(err)) => err.to_string(),
                    _ => "timed out".to_string(),
                };
                tracing::warn!(error = %reason, "cannot publish events to Redis; other replicas read them from the event log");
            }
        } else {
            self.forwarder.offer(db, events).await;
        }
        Ok(count)
    }
}

/// Forwards the Redis channel into this server's bus, reconnecting when the connection drops
/// and then reading from the log what was published meanwhile.
async fn listen(
    fanout: Arc<Fanout>,
    forwarder: Arc<Forwarder>,
    sessions: broadcast::Sender<uuid::Uuid>,
    metrics: Arc<Metrics>,
    db: DatabaseConnection,
) {
    let mut pubsub = fanout.first.lock().await.take();
    loop {
        let mut current = match pubsub.take() {
            Some(current) => current,
            None => match subscribe(&fanout.client, &fanout.channel).await {
                Ok(current) => {
                    tracing::info!("event fan-out subscription to Redis restored");
                    metrics.set_redis_degraded(false);
                    forwarder.catch_up(&db).await;
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
                forwarder.offer(&db, vec![event]).await;
            } else if let Some(user_id) = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get(SESSIONS_ENDED)?.as_str()?.parse::<uuid::Uuid>().ok())
            {
                let _ = sessions.send(user_id);
            } else {
                tracing::warn!("ignoring a message on the event channel that is not an event");
            }
        }
        metrics.set_redis_degraded(true);
        tracing::warn!(
            "lost the Redis event subscription; reconnecting, and reading the event log meanwhile"
        );
    }
}
