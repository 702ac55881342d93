use sea_orm::entity::prelude::*;

/// An endpoint that receives signed event deliveries.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// A JSON array of event kinds; empty means every kind.
    pub events: Json,
    /// Only this organization's events; `None` means all.
    pub organization_id: Option<Uuid>,
    /// The `whsec_...` signing secret, sealed with the data key (`v1:<key id>:...`, see
    /// `service::webhook::secret`); rows from before sealing began hold it as it is until the
    /// next start.
    pub secret: String,
    /// The secret before the last rotation, sealed the same way; signs alongside until
    /// `previous_secret_expires_at`, and is erased once that has passed.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTimeUtc>,
    /// Start of the current run of failures; `None` after a success.
    pub failing_since: Option<DateTimeUtc>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
