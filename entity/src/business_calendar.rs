use sea_orm::entity::prelude::*;

/// Working time for SLA policies: a time zone, working intervals per weekday, holidays.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "business_calendars")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// An IANA zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// `[{"day": "monday", "from": "09:00", "to": "17:00"}, ...]`, local time.
    pub working_hours: Json,
    /// `["2026-12-25", ...]`, local dates without working time.
    pub holidays: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
