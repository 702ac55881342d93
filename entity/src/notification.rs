use sea_orm::entity::prelude::*;

use crate::enums::{NotificationChannel, NotificationKind, NotificationStatus};

/// A notice to one person on one channel, made from one published event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// The event it was made from (unique with the user and channel).
    pub event_id: Option<i64>,
    pub ticket_id: Option<Uuid>,
    pub kind: NotificationKind,
    pub channel: NotificationChannel,
    pub title: String,
    pub body: String,
    pub status: NotificationStatus,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// When the recipient marked it read (in-app).
    pub read_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    /// The W3C `traceparent` of the request that made it, when that request was traced.
    #[serde(default)]
    pub trace_parent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
