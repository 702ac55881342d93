//! The event log behind subscriptions, webhooks and the change feed: one row per committed
//! change, written in the same transaction as the change itself, so a crash after commit
//! loses nothing (the relay publishes unpublished rows when it starts again).

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    // Monotonic: the feed's order and its cursors.
                    .col(big_pk_auto(OutboxEvents::Id))
                    // No foreign keys: the log outlives purged tickets and deleted users.
                    .col(uuid(OutboxEvents::TicketId))
                    .col(uuid(OutboxEvents::OrganizationId))
                    .col(string_len(OutboxEvents::Kind, 40))
                    // 1, 2, 3, ... per ticket: subscribers see each ticket's changes in order.
                    .col(big_integer(OutboxEvents::Sequence))
                    .col(uuid_null(OutboxEvents::ActorId))
                    // Events about internal notes are for staff only.
                    .col(boolean(OutboxEvents::Internal).default(false))
                    .col(json(OutboxEvents::Payload))
                    .col(timestamp_with_time_zone(OutboxEvents::CreatedAt))
                    .col(timestamp_with_time_zone_null(OutboxEvents::PublishedAt))
                    .to_owned(),
            )
            .await?;
        // A ticket's sequence numbers are unique; also serves "the events of a ticket".
        manager
            .create_index(
                Index::create()
                    .name("ux_outbox_events_ticket_sequence")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::TicketId)
                    .col(OutboxEvents::Sequence)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The change feed of an organization, in order.
        manager
            .create_index(index(
                "ix_outbox_events_organization_id",
                OutboxEvents::Table,
                [OutboxEvents::OrganizationId, OutboxEvents::Id],
            ))
            .await?;
        // The relay's work: rows not yet published, oldest first.
        manager
            .create_index(index(
                "ix_outbox_events_published_at",
                OutboxEvents::Table,
                [OutboxEvents::PublishedAt, OutboxEvents::Id],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OutboxEvents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Id,
    TicketId,
    OrganizationId,
    Kind,
    Sequence,
    ActorId,
    Internal,
    Payload,
    CreatedAt,
    PublishedAt,
}
