use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    /// A dotted event name such as `auth.login_failed` or `user.locked`.
    pub action: String,
    pub ticket_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTimeUtc,
    /// Who acted, when it is not (only) the account concerned: the administrator of an
    /// administrative change.
    pub actor_id: Option<Uuid>,
    /// What a change replaced, and what it set: only the fields it changed.
    pub old_values: Option<Json>,
    pub new_values: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    User,
    #[sea_orm(
        belongs_to = "super::ticket::Entity",
        from = "Column::TicketId",
        to = "super::ticket::Column::Id",
        on_delete = "SetNull"
    )]
    Ticket,
}

impl ActiveModelBehavior for ActiveModel {}
