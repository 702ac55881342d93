//! Commit-ordered positions for the event log. An event's id is taken when its change inserts
//! it, and on PostgreSQL two changes may commit in the other order than they took their ids:
//! a reader that resumed after the later id would never see the earlier one. The relay now
//! gives every event a `position` when it publishes it, one after the other under its lock,
//! so positions follow the order events became visible, and every cursor is a position.
//!
//! Events published before this migration get their id as position (ids are unique and were
//! handed on in id order), so cursors taken before keep their meaning.

use sea_orm_migration::prelude::*;

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Position,
    OrganizationId,
    TicketId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .add_column(ColumnDef::new(OutboxEvents::Position).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE outbox_events SET position = id WHERE published_at IS NOT NULL",
            )
            .await?;
        // The feed in order, and the relay's next position (the largest one).
        manager
            .create_index(
                Index::create()
                    .name("ux_outbox_events_position")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::Position)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The feed of one organization, and of one ticket, in order.
        manager
            .create_index(index(
                "ix_outbox_events_organization_position",
                OutboxEvents::Table,
                [OutboxEvents::OrganizationId, OutboxEvents::Position],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_outbox_events_ticket_position",
                OutboxEvents::Table,
                [OutboxEvents::TicketId, OutboxEvents::Position],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "ix_outbox_events_ticket_position",
            "ix_outbox_events_organization_position",
            "ux_outbox_events_position",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(OutboxEvents::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(OutboxEvents::Table)
                    .drop_column(OutboxEvents::Position)
                    .to_owned(),
            )
            .await
    }
}
