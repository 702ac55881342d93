use sea_orm::entity::prelude::*;

use crate::enums::{TicketCategory, TicketPriority, TicketStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The human-readable number (shown as `HD-1042`), allocated from the `ticket_number`
    /// counter in the creating transaction.
    #[sea_orm(unique)]
    pub number: i64,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub category: TicketCategory,
    pub requester_id: Uuid,
    pub assignee_id: Option<Uuid>,
    pub organization_id: Uuid,
    pub first_response_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub reopened_count: i32,
    /// Soft delete: a deleted ticket is hidden from every listing but kept for the record.
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The SLA policy the ticket is measured against; none when its priority has none.
    pub sla_policy_id: Option<Uuid>,
    /// When the resolution clock stood still: `[{"from": .., "to": .. | null}]`.
    pub sla_pauses: Option<Json>,
    /// The start of the current standstill (waiting for the customer, or resolved).
    pub sla_paused_since: Option<DateTimeUtc>,
    pub first_response_due_at: Option<DateTimeUtc>,
    /// The due date counting the finished standstills only.
    pub resolution_due_at: Option<DateTimeUtc>,
    /// When the SLA scanner has to look at the ticket next.
    pub sla_next_check_at: Option<DateTimeUtc>,
    pub first_response_warned_at: Option<DateTimeUtc>,
    pub first_response_breached_at: Option<DateTimeUtc>,
    pub resolution_warned_at: Option<DateTimeUtc>,
    pub resolution_breached_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::RequesterId",
        to = "super::user::Column::Id",
        on_delete = "Restrict"
    )]
    Requester,
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::AssigneeId",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    Assignee,
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id",
        on_delete = "Restrict"
    )]
    Organization,
    #[sea_orm(has_many = "super::comment::Entity")]
    Comment,
    #[sea_orm(has_many = "super::ticket_history::Entity")]
    TicketHistory,
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Organization.def()
    }
}

impl Related<super::comment::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Comment.def()
    }
}

impl Related<super::ticket_history::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TicketHistory.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
