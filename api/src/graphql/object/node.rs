use async_graphql::{ID, Interface};

use super::attachment::Attachment;
use super::audit::AuditEntry;
use super::comment::Comment;
use super::escalation::Escalation;
use super::notification::{Notification, NotificationDelivery};
use super::organization::Organization;
use super::sla::{BusinessCalendar, SlaPolicy};
use super::ticket::Ticket;
use super::user::{ApiToken, Session, User};
use super::webhook::{Webhook, WebhookDelivery};

/// Anything with a global ID that `node(id)` can fetch again.
#[derive(Interface, Clone)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "The global ID: opaque, stable, and accepted by `node(id)`."
))]
pub enum Node {
    Ticket(Ticket),
    Comment(Comment),
    User(User),
    Organization(Organization),
    Attachment(Attachment),
    Webhook(Webhook),
    WebhookDelivery(WebhookDelivery),
    SlaPolicy(SlaPolicy),
    BusinessCalendar(BusinessCalendar),
    Notification(Notification),
    NotificationDelivery(NotificationDelivery),
    Escalation(Escalation),
    Session(Session),
    ApiToken(ApiToken),
    AuditEntry(AuditEntry),
}
