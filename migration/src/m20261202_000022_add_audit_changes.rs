//! The audit log that administrators read: who acted (beside the account concerned), and the
//! values a change replaced and set.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    ActorId,
    OldValues,
    NewValues,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time. No foreign key on the
        // actor: an entry outlives the account that made it.
        for column in [
            uuid_null(AuditLog::ActorId),
            json_null(AuditLog::OldValues),
            json_null(AuditLog::NewValues),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditLog::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [AuditLog::NewValues, AuditLog::OldValues, AuditLog::ActorId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditLog::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
