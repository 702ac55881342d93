use sea_orm::entity::prelude::*;

use crate::enums::SlaTarget;

/// One escalation step of one SLA breach; unique per (ticket, target, level).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "escalations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub sla_policy_id: Option<Uuid>,
    pub target: SlaTarget,
    pub level: i32,
    pub due_at: DateTimeUtc,
    pub escalated_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub acknowledged_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    /// `["<user id>", ...]`: whom the last notice went to (the level's targets when it fired).
    pub recipients: Option<Json>,
    /// Notices sent: the first, and each reminder since.
    pub notices: i32,
    /// When the targets are reminded next, until someone acknowledges; `None`: never.
    pub next_notice_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::ticket::Entity",
        from = "Column::TicketId",
        to = "super::ticket::Column::Id",
        on_delete = "Cascade"
    )]
    Ticket,
    #[sea_orm(
        belongs_to = "super::sla_policy::Entity",
        from = "Column::SlaPolicyId",
        to = "super::sla_policy::Column::Id",
        on_delete = "SetNull"
    )]
    SlaPolicy,
}

impl Related<super::ticket::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Ticket.def()
    }
}

impl Related<super::sla_policy::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::SlaPolicy.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
