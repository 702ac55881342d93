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

use async_graphql::MergedSubscription;

/// Every subscription root field, merged from one object per area.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    ticket_events::TicketEventsSubscription,
    ticket_stats::TicketStatsSubscription,
    notifications::NotificationSubscription,
);
