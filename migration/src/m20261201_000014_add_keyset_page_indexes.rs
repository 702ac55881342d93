//! Indexes in the order pages are read: a page ends at a (sort key, id) position, so an index
//! on the sort key alone makes PostgreSQL sort each run of equal keys by id after the scan.
//! With the id in the index, a page is a plain index scan that stops at its limit.
//!
//! - tickets by `(created_at, id)` (the default newest-first listing), replacing the index on
//!   `created_at` alone, and by `(organization_id, created_at, id)` for each organization's page
//!   of a list of organizations;
//! - comments and history by `(ticket_id, created_at, id)`, replacing `(ticket_id,
//!   created_at)`: the first rows of each ticket of a page.

use sea_orm_migration::prelude::*;

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    OrganizationId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
    TicketId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TicketHistory {
    Table,
    Id,
    TicketId,
    CreatedAt,
}

async fn replace(
    manager: &SchemaManager<'_>,
    drop: (&str, impl IntoIden + 'static),
    create: IndexCreateStatement,
) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(drop.0).table(drop.1).to_owned())
        .await?;
    manager.create_index(create).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(
            manager,
            ("ix_tickets_created_at", Tickets::Table),
            index(
                "ix_tickets_created_at_id",
                Tickets::Table,
                [Tickets::CreatedAt, Tickets::Id],
            ),
        )
        .await?;
        manager
            .create_index(index(
                "ix_tickets_organization_created_at_id",
                Tickets::Table,
                [Tickets::OrganizationId, Tickets::CreatedAt, Tickets::Id],
            ))
            .await?;
        replace(
            manager,
            ("ix_comments_ticket_created_at", Comments::Table),
            index(
                "ix_comments_ticket_created_at_id",
                Comments::Table,
                [Comments::TicketId, Comments::CreatedAt, Comments::Id],
            ),
        )
        .await?;
        replace(
            manager,
            ("ix_ticket_history_ticket_created_at", TicketHistory::Table),
            index(
                "ix_ticket_history_ticket_created_at_id",
                TicketHistory::Table,
                [
                    TicketHistory::TicketId,
                    TicketHistory::CreatedAt,
                    TicketHistory::Id,
                ],
            ),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(
            manager,
            (
                "ix_ticket_history_ticket_created_at_id",
                TicketHistory::Table,
            ),
            index(
                "ix_ticket_history_ticket_created_at",
                TicketHistory::Table,
                [TicketHistory::TicketId, TicketHistory::CreatedAt],
            ),
        )
        .await?;
        replace(
            manager,
            ("ix_comments_ticket_created_at_id", Comments::Table),
            index(
                "ix_comments_ticket_created_at",
                Comments::Table,
                [Comments::TicketId, Comments::CreatedAt],
            ),
        )
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_tickets_organization_created_at_id")
                    .table(Tickets::Table)
                    .to_owned(),
            )
            .await?;
        replace(
            manager,
            ("ix_tickets_created_at_id", Tickets::Table),
            index(
                "ix_tickets_created_at",
                Tickets::Table,
                [Tickets::CreatedAt],
            ),
        )
        .await
    }
}
