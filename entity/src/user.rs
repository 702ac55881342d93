use sea_orm::entity::prelude::*;

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique without regard to letter case (an expression index on `lower(email)`).
    pub email: String,
    pub name: String,
    /// Argon2id PHC string; never leaves the service layer.
    pub password_hash: String,
    pub role: Role,
    pub is_approved: bool,
    pub is_locked: bool,
    pub lock_reason: Option<String>,
    /// A temporary lock (after repeated failed logins) ends here; `None` with `is_locked` is
    /// a lock set by an administrator, which only an administrator lifts.
    pub locked_until: Option<DateTimeUtc>,
    pub failed_login_count: i32,
    pub last_login_at: Option<DateTimeUtc>,
    /// Access tokens carry the epoch they were issued under; raising it ends every session.
    pub session_epoch: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::organization_member::Entity")]
    OrganizationMember,
    #[sea_orm(has_many = "super::refresh_token::Entity")]
    RefreshToken,
}

impl Related<super::organization_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OrganizationMember.def()
    }
}

impl Related<super::organization::Entity> for Entity {
    fn to() -> RelationDef {
        super::organization_member::Relation::Organization.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::organization_member::Relation::User.def().rev())
    }
}

impl Related<super::refresh_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RefreshToken.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
