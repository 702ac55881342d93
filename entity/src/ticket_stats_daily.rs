use sea_orm::entity::prelude::*;

/// What happened to an organization's tickets on one local day, per assignee at the time;
/// kept in the transaction of every ticket change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "ticket_stats_daily")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// The nil UUID for unassigned tickets.
    #[sea_orm(primary_key, auto_increment = false)]
    pub agent_id: Uuid,
    /// The day in the organization's time zone.
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    pub created: i64,
    pub resolved: i64,
    pub reopened: i64,
    pub first_responses: i64,
    /// The sum of minutes from creation to first response, over `first_responses`.
    pub first_response_minutes: i64,
    /// The sum of minutes from creation to resolution, over `resolved`.
    pub resolution_minutes: i64,
    /// Resolutions measured against an SLA policy, and those within its target.
    pub sla_measured: i64,
    pub sla_met: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
