mod ticket_events;
mod ticket_stats;

pub use ticket_stats::StatsPushInterval;

use async_graphql::MergedSubscription;

/// Every subscription root field, merged from one object per area.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    ticket_events::TicketEventsSubscription,
    ticket_stats::TicketStatsSubscription,
);
