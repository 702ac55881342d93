mod audit;
mod event;
mod node;
mod notification;
mod organization;
mod server;
mod sla;
pub mod stats;
mod ticket;
mod user;
mod viewer;
mod webhook;

pub use event::EventFilter;

use async_graphql::MergedObject;

/// Every query root field, merged from one object per area.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    server::ServerQuery,
    viewer::ViewerQuery,
    node::NodeQuery,
    ticket::TicketQuery,
    organization::OrganizationQuery,
    user::UserQuery,
    event::EventQuery,
    webhook::WebhookQuery,
    sla::SlaQuery,
    stats::StatsQuery,
    notification::NotificationQuery,
    audit::AuditQuery,
);
