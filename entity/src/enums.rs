//! Enumerations stored as short strings (the migrations guard them with CHECK constraints).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a user may do. See the README's access rules.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "superagent")]
    Superagent,
    #[sea_orm(string_value = "agent")]
    Agent,
    #[sea_orm(string_value = "client")]
    Client,
}

impl Role {
    /// Staff work tickets; clients raise them.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Client)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    #[sea_orm(string_value = "new")]
    New,
    #[sea_orm(string_value = "open")]
    Open,
    #[sea_orm(string_value = "in_progress")]
    InProgress,
    #[sea_orm(string_value = "pending_info")]
    PendingInfo,
    #[sea_orm(string_value = "resolved")]
    Resolved,
    #[sea_orm(string_value = "closed")]
    Closed,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum TicketPriority {
    #[sea_orm(string_value = "low")]
    Low,
    #[sea_orm(string_value = "medium")]
    Medium,
    #[sea_orm(string_value = "high")]
    High,
    #[sea_orm(string_value = "critical")]
    Critical,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum TicketCategory {
    #[sea_orm(string_value = "technical")]
    Technical,
    #[sea_orm(string_value = "account")]
    Account,
    #[sea_orm(string_value = "billing")]
    Billing,
    #[sea_orm(string_value = "other")]
    Other,
}

/// Malware scan state of an uploaded file.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "clean")]
    Clean,
    #[sea_orm(string_value = "infected")]
    Infected,
    #[sea_orm(string_value = "failed")]
    Failed,
    /// No scanner is configured.
    #[sea_orm(string_value = "not_scanned")]
    NotScanned,
}

/// Where an upload is: begun, its bytes complete, or on a ticket or comment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum AttachmentState {
    #[sea_orm(string_value = "uploading")]
    Uploading,
    /// One request is streaming the bytes in now.
    #[sea_orm(string_value = "receiving")]
    Receiving,
    #[sea_orm(string_value = "stored")]
    Stored,
    #[sea_orm(string_value = "attached")]
    Attached,
}

/// Which SLA clock an escalation is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum SlaTarget {
    #[sea_orm(string_value = "first_response")]
    FirstResponse,
    #[sea_orm(string_value = "resolution")]
    Resolution,
}

/// What a notice is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Staff replied publicly to the requester's ticket.
    #[sea_orm(string_value = "reply")]
    Reply,
    /// The requester's ticket moved to PENDING_INFO, RESOLVED or CLOSED.
    #[sea_orm(string_value = "status")]
    Status,
    /// A ticket was assigned to the recipient.
    #[sea_orm(string_value = "assigned")]
    Assigned,
    /// The requester replied on a ticket assigned to the recipient.
    #[sea_orm(string_value = "requester_reply")]
    RequesterReply,
    /// An internal note mentions the recipient.
    #[sea_orm(string_value = "mention")]
    Mention,
    /// A new, unassigned ticket in one of the recipient's organizations.
    #[sea_orm(string_value = "new_ticket")]
    NewTicket,
    #[sea_orm(string_value = "sla_warning")]
    SlaWarning,
    #[sea_orm(string_value = "sla_breach")]
    SlaBreach,
    #[sea_orm(string_value = "escalation")]
    Escalation,
}

/// Where a notice goes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
#[serde(rename_all = "snake_case")]
pub enum NotificationChannel {
    #[sea_orm(string_value = "in_app")]
    InApp,
    #[sea_orm(string_value = "email")]
    Email,
}

/// Whether a notice went out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(12))")]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "sent")]
    Sent,
    #[sea_orm(string_value = "failed")]
    Failed,
}
