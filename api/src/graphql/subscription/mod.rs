mod notifications;
mod ticket_events;
mod ticket_stats;

pub use ticket_stats::StatsPushInterval;

use std::sync::Arc;

/// Bounds how many subscriptions catch up from the event log (`after:`) at once; the others
/// wait their turn, so many sockets resuming together cannot flood the database.
#[derive(Clone)]
pub struct ReplayPermits(Arc<tokio::sync::Semaphore>);

impl ReplayPermits {
    pub fn new(permits: usize) -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(permits.max(1))))
    }

    pub async fn acquire(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.0.clone().acquire_owned().await.ok()
    }
}

pub(crate) use ticket_events::slow_consumer;

/// In the context of an operation that one group of sockets shares (see `http::ws::shared`):
/// the subscription says when it listens to the bus, and the position of each event it
/// pushes, so that a member that falls behind is told where to resume.
#[derive(Clone)]
pub struct SharedRun(Arc<SharedRunInner>);

struct SharedRunInner {
    listening: Box<dyn Fn() + Send + Sync>,
    /// The position of the last event pushed; -1 before the first.
    position: std::sync::atomic::AtomicI64,
}

impl SharedRun {
    pub fn new(listening: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(SharedRunInner {
            listening: Box::new(listening),
            position: std::sync::atomic::AtomicI64::new(-1),
        }))
    }

    /// The operation listens to the bus: its sockets count as active subscriptions.
    fn listening(&self) {
        (self.0.listening)();
    }

    /// The next push is the event at `position`.
    fn pushing(&self, position: i64) {
        self.0
            .position
            .store(position, std::sync::atomic::Ordering::Release);
    }

    /// The position of the event being pushed.
    pub fn position(&self) -> Option<i64> {
        Some(self.0.position.load(std::sync::atomic::Ordering::Acquire)).filter(|p| *p >= 0)
    }
}

use async_graphql::MergedSubscription;

/// Every subscription root field, merged from one object per area.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    ticket_events::TicketEventsSubscription,
    ticket_stats::TicketStatsSubscription,
    notifications::NotificationSubscription,
);
