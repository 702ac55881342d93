use sea_orm::entity::prelude::*;

/// A user's TOTP second factor (RFC 6238).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "second_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The shared secret, sealed with the data key; never leaves the service layer.
    pub secret: String,
    /// When a code proved the enrolment; `None` while it is being set up (not asked for yet).
    pub confirmed_at: Option<DateTimeUtc>,
    /// The last time step a code was accepted for: no code of it or before works again.
    pub last_used_step: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
