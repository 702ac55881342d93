//! Tickets and what hangs off them: comments, attachments and the append-only history, plus the
//! counter that hands out human-readable ticket numbers.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000001_create_users_and_organizations::{Organizations, Users};
use crate::{index, one_of};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Ticket numbers (HD-1042) come from a counter row that is incremented with
        // `UPDATE ... RETURNING` inside the creating transaction. The row lock makes concurrent
        // creates wait for each other instead of reading the same value, on PostgreSQL and SQLite
        // alike, and a rolled-back create gives its number back. A sequence would be faster but
        // does not exist on SQLite and leaves gaps.
        manager
            .create_table(
                Table::create()
                    .table(Counters::Table)
                    .col(string_len(Counters::Name, 64).primary_key())
                    .col(big_integer(Counters::Value))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .col(pk_uuid(Tickets::Id))
                    .col(big_integer_uniq(Tickets::Number))
                    .col(string_len(Tickets::Title, 200))
                    .col(text(Tickets::Description))
                    .col(string_len(Tickets::Status, 16).check(one_of(
                        Tickets::Status,
                        &[
                            "new",
                            "open",
                            "in_progress",
                            "pending_info",
                            "resolved",
                            "closed",
                        ],
                    )))
                    .col(string_len(Tickets::Priority, 16).check(one_of(
                        Tickets::Priority,
                        &["low", "medium", "high", "critical"],
                    )))
                    .col(string_len(Tickets::Category, 16).check(one_of(
                        Tickets::Category,
                        &["technical", "account", "billing", "other"],
                    )))
                    .col(uuid(Tickets::RequesterId))
                    .col(uuid_null(Tickets::AssigneeId))
                    .col(uuid(Tickets::OrganizationId))
                    .col(timestamp_with_time_zone_null(Tickets::FirstResponseAt))
                    .col(timestamp_with_time_zone_null(Tickets::ResolvedAt))
                    .col(timestamp_with_time_zone_null(Tickets::ClosedAt))
                    .col(integer(Tickets::ReopenedCount).default(0))
                    .col(timestamp_with_time_zone_null(Tickets::DeletedAt))
                    .col(timestamp_with_time_zone(Tickets::CreatedAt))
                    .col(timestamp_with_time_zone(Tickets::UpdatedAt))
                    // A requester's tickets are their record with us: the user cannot be deleted
                    // while they exist (lock the account instead).
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tickets_requester")
                            .from(Tickets::Table, Tickets::RequesterId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    // Deleting an agent leaves their tickets unassigned, back in the queue.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tickets_assignee")
                            .from(Tickets::Table, Tickets::AssigneeId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tickets_organization")
                            .from(Tickets::Table, Tickets::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // An organization's tickets by status: the agent and client queues.
        manager
            .create_index(index(
                "ix_tickets_organization_status",
                Tickets::Table,
                [Tickets::OrganizationId, Tickets::Status],
            ))
            .await?;
        // "My open tickets": an agent's own queue.
        manager
            .create_index(index(
                "ix_tickets_assignee_status",
                Tickets::Table,
                [Tickets::AssigneeId, Tickets::Status],
            ))
            .await?;
        // The global triage view: open tickets, most urgent first.
        manager
            .create_index(index(
                "ix_tickets_status_priority",
                Tickets::Table,
                [Tickets::Status, Tickets::Priority],
            ))
            .await?;
        // A client's own tickets, and the RESTRICT check when a user is deleted.
        manager
            .create_index(index(
                "ix_tickets_requester",
                Tickets::Table,
                [Tickets::RequesterId],
            ))
            .await?;
        // Newest-first listings, keyset pagination and created-in-range statistics.
        manager
            .create_index(index(
                "ix_tickets_created_at",
                Tickets::Table,
                [Tickets::CreatedAt],
            ))
            .await?;
        // Recently changed tickets, and sync clients asking for `updatedAfter`.
        manager
            .create_index(index(
                "ix_tickets_updated_at",
                Tickets::Table,
                [Tickets::UpdatedAt],
            ))
            .await?;
        // Resolution statistics and the auto-close scan of long-resolved tickets.
        manager
            .create_index(index(
                "ix_tickets_resolved_at",
                Tickets::Table,
                [Tickets::ResolvedAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Comments::Table)
                    .col(pk_uuid(Comments::Id))
                    .col(uuid(Comments::TicketId))
                    .col(uuid(Comments::AuthorId))
                    .col(text(Comments::Body))
                    .col(boolean(Comments::IsInternal).default(false))
                    .col(timestamp_with_time_zone(Comments::CreatedAt))
                    .col(timestamp_with_time_zone(Comments::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comments_ticket")
                            .from(Comments::Table, Comments::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A conversation must keep its authors: accounts are locked, not deleted.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_comments_author")
                            .from(Comments::Table, Comments::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // A ticket's conversation in order, and the per-ticket window the comments loader reads.
        manager
            .create_index(
                Index::create()
                    .name("ix_comments_ticket_created_at")
                    .table(Comments::Table)
                    .col(Comments::TicketId)
                    .col(Comments::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .col(pk_uuid(Attachments::Id))
                    .col(uuid(Attachments::TicketId))
                    .col(uuid_null(Attachments::CommentId))
                    .col(uuid_null(Attachments::UploadedBy))
                    .col(string_len(Attachments::FileName, 255))
                    .col(string_len(Attachments::ContentType, 255))
                    .col(big_integer(Attachments::SizeBytes))
                    .col(char_len(Attachments::Sha256, 64))
                    .col(string_len(Attachments::StorageKey, 512))
                    .col(string_len(Attachments::ScanStatus, 16).check(one_of(
                        Attachments::ScanStatus,
                        &["pending", "clean", "infected", "failed"],
                    )))
                    .col(timestamp_with_time_zone(Attachments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_attachments_ticket")
                            .from(Attachments::Table, Attachments::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_attachments_comment")
                            .from(Attachments::Table, Attachments::CommentId)
                            .to(Comments::Table, Comments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_attachments_uploaded_by")
                            .from(Attachments::Table, Attachments::UploadedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // The files of a ticket, and of a comment (also the CASCADE paths on delete).
        manager
            .create_index(
                Index::create()
                    .name("ix_attachments_ticket")
                    .table(Attachments::Table)
                    .col(Attachments::TicketId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_attachments_comment")
                    .table(Attachments::Table)
                    .col(Attachments::CommentId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketHistory::Table)
                    .col(pk_uuid(TicketHistory::Id))
                    .col(uuid(TicketHistory::TicketId))
                    // NULL when the system acted (auto-close, escalation), and after the actor's
                    // account is deleted: the change itself stays on record.
                    .col(uuid_null(TicketHistory::ActorId))
                    .col(string_len(TicketHistory::Field, 64))
                    .col(text_null(TicketHistory::OldValue))
                    .col(text_null(TicketHistory::NewValue))
                    .col(timestamp_with_time_zone(TicketHistory::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ticket_history_ticket")
                            .from(TicketHistory::Table, TicketHistory::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ticket_history_actor")
                            .from(TicketHistory::Table, TicketHistory::ActorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // A ticket's timeline in order, read page by page by the history loader.
        manager
            .create_index(
                Index::create()
                    .name("ix_ticket_history_ticket_created_at")
                    .table(TicketHistory::Table)
                    .col(TicketHistory::TicketId)
                    .col(TicketHistory::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TicketHistory::Table.into_iden(),
            Attachments::Table.into_iden(),
            Comments::Table.into_iden(),
            Tickets::Table.into_iden(),
            Counters::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Counters {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
pub(crate) enum Tickets {
    Table,
    Id,
    Number,
    Title,
    Description,
    Status,
    Priority,
    Category,
    RequesterId,
    AssigneeId,
    OrganizationId,
    FirstResponseAt,
    ResolvedAt,
    ClosedAt,
    ReopenedCount,
    DeletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
    TicketId,
    AuthorId,
    Body,
    IsInternal,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    TicketId,
    CommentId,
    UploadedBy,
    FileName,
    ContentType,
    SizeBytes,
    Sha256,
    StorageKey,
    ScanStatus,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TicketHistory {
    Table,
    Id,
    TicketId,
    ActorId,
    Field,
    OldValue,
    NewValue,
    CreatedAt,
}
