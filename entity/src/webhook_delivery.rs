use sea_orm::entity::prelude::*;

/// One event (or ping) on its way to one webhook endpoint, with its retry schedule.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The `webhook-id` header: stable across attempts and redeliveries of one event.
    pub message_id: String,
    /// The event delivered; `None` for `webhook.ping`.
    pub event_id: Option<i64>,
    pub ticket_id: Option<Uuid>,
    pub kind: String,
    /// The exact bytes every attempt sends.
    pub body: String,
    /// `PENDING`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    /// Attempts made so far.
    pub attempt: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    /// Held by a worker until then.
    pub locked_until: Option<DateTimeUtc>,
    pub response_status: Option<i32>,
    pub duration_ms: Option<i32>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_attempt_at: Option<DateTimeUtc>,
    /// The W3C `traceparent` of the request that made it, when that request was traced.
    #[serde(default)]
    pub trace_parent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
