//! Sessions that end, and event numbers clients can follow without gaps.
//!
//! - `users.session_epoch`: every access token carries the epoch it was issued under. A password
//!   change, a lock, an unapproval or a role change increments it, so every token issued before
//!   is refused at once (a timestamp would let tokens issued in the same second survive).
//! - `outbox_events.client_sequence`: 1, 2, 3, ... per ticket over the events a client may see
//!   (not about internal notes), null for the others. `sequence` counts every event, so it has
//!   gaps exactly where internal notes were written; clients are shown this one instead.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(integer(Users::SessionEpoch).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .add_column(big_integer_null(OutboxEvents::ClientSequence))
                    .to_owned(),
            )
            .await?;
        // Events written before this migration: number the public ones per ticket in log order.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE outbox_events SET client_sequence = (
                     SELECT COUNT(*) FROM outbox_events AS earlier
                     WHERE earlier.ticket_id = outbox_events.ticket_id
                       AND earlier.internal = false
                       AND earlier.id <= outbox_events.id)
                 WHERE internal = false",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .drop_column(OutboxEvents::ClientSequence)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::SessionEpoch)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    SessionEpoch,
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    ClientSequence,
}
