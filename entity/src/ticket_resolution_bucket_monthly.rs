use sea_orm::entity::prelude::*;

/// The resolution histogram per organization, assignee and local month: the daily one summed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "ticket_resolution_buckets_monthly")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub agent_id: Uuid,
    /// The first day of the local month.
    #[sea_orm(primary_key, auto_increment = false)]
    pub month: Date,
    /// The bucket of the daily histogram (`ticket_resolution_buckets`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: i32,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
