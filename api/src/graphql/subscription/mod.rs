mod ticket_events;

use async_graphql::MergedSubscription;

/// Every subscription root field, merged from one object per area.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(ticket_events::TicketEventsSubscription);
