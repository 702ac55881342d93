//! Webhook signing secrets are stored sealed with the data key (`v1:<key id>:<base64>`, about
//! 120 characters for a `whsec_` secret), which the 100 characters of the first schema cannot
//! hold. The columns become `text`: the envelope's length follows the sealed value and a later
//! envelope version, and a length limit here would guard nothing the code does not.
//!
//! SQLite does not enforce `varchar` lengths (the columns already have TEXT affinity), so only
//! PostgreSQL changes. Going down narrows the columns again, which PostgreSQL refuses while
//! sealed secrets are stored: the version before this one could not read them anyway.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE webhooks ALTER COLUMN secret TYPE text, \
                 ALTER COLUMN previous_secret TYPE text",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "ALTER TABLE webhooks ALTER COLUMN secret TYPE varchar(100), \
                 ALTER COLUMN previous_secret TYPE varchar(100)",
            )
            .await
            .map(|_| ())
    }
}
