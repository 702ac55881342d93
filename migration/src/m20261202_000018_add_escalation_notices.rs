//! Escalations that reach people: who each was sent to (the level's targets, resolved when it
//! fired), how many notices it has sent, and when it reminds its targets next (until someone
//! acknowledges it). The list of escalations for staff reads them newest first.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Escalations {
    Table,
    Id,
    EscalatedAt,
    Recipients,
    Notices,
    NextNoticeAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [
            // `["<user id>", ...]`: whom the last notice went to.
            json_null(Escalations::Recipients),
            integer(Escalations::Notices).default(1).to_owned(),
            timestamp_with_time_zone_null(Escalations::NextNoticeAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Escalations::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(index(
                "ix_escalations_escalated_at",
                Escalations::Table,
                [Escalations::EscalatedAt, Escalations::Id],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_escalations_escalated_at")
                    .table(Escalations::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Escalations::NextNoticeAt,
            Escalations::Notices,
            Escalations::Recipients,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Escalations::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
