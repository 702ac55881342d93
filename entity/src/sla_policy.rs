use sea_orm::entity::prelude::*;

use crate::enums::TicketPriority;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "sla_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub priority: TicketPriority,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub warn_before_minutes: i32,
    /// The escalation ladder: `[{"level": 1, "afterMinutes": 0, "notify": "team_lead"}, ...]`.
    pub escalation_levels: Json,
    /// At most one active policy per priority (a partial unique index).
    pub is_active: bool,
    /// Working time to count; none means around the clock.
    pub business_calendar_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::escalation::Entity")]
    Escalation,
}

impl Related<super::escalation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Escalation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
