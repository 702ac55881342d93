//! SeaORM entities for helpdesk: one module per table, enumerations in [`enums`].
//!
//! These are the storage shapes only. The GraphQL API builds its own types from them, so the
//! API can change without a migration and a column can change without breaking clients.

pub mod api_token;
pub mod attachment;
pub mod audit_log;
pub mod business_calendar;
pub mod comment;
pub mod counter;
pub mod enums;
pub mod escalation;
pub mod idempotency_key;
pub mod notification;
pub mod notification_preference;
pub mod organization;
pub mod organization_member;
pub mod outbox_event;
pub mod password_reset;
pub mod recovery_code;
pub mod refresh_token;
pub mod second_factor;
pub mod sla_policy;
pub mod ticket;
pub mod ticket_count;
pub mod ticket_history;
pub mod ticket_resolution_bucket;
pub mod ticket_resolution_bucket_monthly;
pub mod ticket_stats_daily;
pub mod user;
pub mod webhook;
pub mod webhook_delivery;

pub mod prelude {
    pub use crate::attachment::Entity as Attachment;
    pub use crate::audit_log::Entity as AuditLog;
    pub use crate::comment::Entity as Comment;
    pub use crate::counter::Entity as Counter;
    pub use crate::escalation::Entity as Escalation;
    pub use crate::organization::Entity as Organization;
    pub use crate::organization_member::Entity as OrganizationMember;
    pub use crate::refresh_token::Entity as RefreshToken;
    pub use crate::sla_policy::Entity as SlaPolicy;
    pub use crate::ticket::Entity as Ticket;
    pub use crate::ticket_history::Entity as TicketHistory;
    pub use crate::user::Entity as User;
}
