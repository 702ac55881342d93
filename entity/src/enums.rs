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
