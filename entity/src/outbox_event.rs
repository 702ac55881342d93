use sea_orm::entity::prelude::*;

/// One committed change of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "outbox_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: Uuid,
    pub organization_id: Uuid,
    /// `ticket.created`, `ticket.updated`, `ticket.assigned`, `ticket.status_changed`,
    /// `ticket.deleted`, `comment.created`.
    pub kind: String,
    /// 1, 2, 3, ... per ticket.
    pub sequence: i64,
    /// 1, 2, 3, ... per ticket over the events clients may see; `None` for internal ones.
    #[serde(default)]
    pub client_sequence: Option<i64>,
    pub actor_id: Option<Uuid>,
    /// About an internal note: staff only.
    pub internal: bool,
    /// `{"version": 1, ...}`: the ticket after the change, the field changes, the comment.
    pub payload: Json,
    pub created_at: DateTimeUtc,
    /// When the relay handed it to subscribers and webhooks; `None` until then.
    pub published_at: Option<DateTimeUtc>,
    /// 1, 2, 3, ... over the whole log in the order the relay published events, which is the
    /// order they committed in: the cursor of the change feed and of subscriptions. `None`
    /// until published.
    #[serde(default)]
    pub position: Option<i64>,
    /// The W3C `traceparent` of the request that made it, when that request was traced.
    #[serde(default)]
    pub trace_parent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
