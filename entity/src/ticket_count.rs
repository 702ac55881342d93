use sea_orm::entity::prelude::*;

use crate::enums::{TicketPriority, TicketStatus};

/// How many (not deleted) tickets an organization has per assignee, status and priority now;
/// kept in the transaction of every ticket change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "ticket_counts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// The nil UUID for unassigned tickets.
    #[sea_orm(primary_key, auto_increment = false)]
    pub agent_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub status: TicketStatus,
    #[sea_orm(primary_key, auto_increment = false)]
    pub priority: TicketPriority,
    /// Whether the SLA scanner marked the ticket's resolution target breached.
    #[sea_orm(primary_key, auto_increment = false)]
    pub breached: bool,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
