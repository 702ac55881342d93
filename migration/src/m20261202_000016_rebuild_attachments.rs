//! Attachments become usable: the table gains what an upload, its encryption, its virus scan
//! and its lifecycle need.
//!
//! The table has held no rows so far (nothing wrote it), and SQLite cannot change a CHECK
//! constraint in place, so `up` drops it and creates it again with:
//! - `state`: `uploading` (the row exists, no bytes yet) -> `receiving` (bytes arriving) ->
//!   `stored` (bytes complete, not yet on a ticket or comment) -> `attached`; `expires_at`
//!   bounds how long an unattached upload is kept;
//! - `ticket_id` may be NULL: a file uploaded for a ticket not created yet (`ticketCreate`
//!   attaches it);
//! - `is_internal`: the file belongs to an internal note (staff only);
//! - `wrapped_key`: the file's own AES-256 key, sealed with the server's data key;
//! - `scan_status` with `not_scanned` (no scanner configured), and the scan's attempts, next
//!   try and verdict;
//! - `deleted_at`: deleted files are hidden at once and their bytes purged later.
//!
//! `down` restores the original table (and drops whatever rows it holds).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::{index, one_of};

#[derive(DeriveMigrationName)]
pub struct Migration;

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
    WrappedKey,
    IsInternal,
    State,
    ScanStatus,
    ScanAttempts,
    ScanNextAt,
    ScanVerdict,
    ScannedAt,
    CreatedAt,
    StoredAt,
    ExpiresAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

fn foreign_keys(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
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
}

/// Drops the table and its indexes, the original table's and the rebuilt one's. The rebuilt
/// table's indexes have names of their own (`ix_attachment_files_*`): SQLite keeps index names
/// in one namespace per database, and a name freed in the same migration is not reliably free
/// to the next statement when the pool runs it on another connection.
async fn drop_attachments(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for name in [
        "ix_attachments_ticket",
        "ix_attachments_comment",
        "ix_attachment_files_ticket",
        "ix_attachment_files_comment",
        "ix_attachment_files_scan_queue",
        "ix_attachment_files_expires_at",
        "ix_attachment_files_deleted_at",
    ] {
        manager
            .drop_index(
                Index::drop()
                    .name(name)
                    .table(Attachments::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
    }
    manager
        .drop_table(Table::drop().table(Attachments::Table).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_attachments(manager).await?;
        let mut table = Table::create();
        table
            .table(Attachments::Table)
            .col(pk_uuid(Attachments::Id))
            .col(uuid_null(Attachments::TicketId))
            .col(uuid_null(Attachments::CommentId))
            .col(uuid_null(Attachments::UploadedBy))
            .col(string_len(Attachments::FileName, 255))
            .col(string_len(Attachments::ContentType, 255))
            .col(big_integer(Attachments::SizeBytes))
            .col(char_len_null(Attachments::Sha256, 64))
            .col(string_len(Attachments::StorageKey, 512))
            .col(text(Attachments::WrappedKey))
            .col(boolean(Attachments::IsInternal))
            .col(string_len(Attachments::State, 16).check(one_of(
                Attachments::State,
                &["uploading", "receiving", "stored", "attached"],
            )))
            .col(string_len(Attachments::ScanStatus, 16).check(one_of(
                Attachments::ScanStatus,
                &["pending", "clean", "infected", "failed", "not_scanned"],
            )))
            .col(integer(Attachments::ScanAttempts).default(0))
            .col(timestamp_with_time_zone_null(Attachments::ScanNextAt))
            .col(string_len_null(Attachments::ScanVerdict, 255))
            .col(timestamp_with_time_zone_null(Attachments::ScannedAt))
            .col(timestamp_with_time_zone(Attachments::CreatedAt))
            .col(timestamp_with_time_zone_null(Attachments::StoredAt))
            .col(timestamp_with_time_zone_null(Attachments::ExpiresAt))
            .col(timestamp_with_time_zone_null(Attachments::DeletedAt));
        manager
            .create_table(foreign_keys(&mut table).to_owned())
            .await?;
        // The files of a ticket, and of a comment (also the CASCADE paths on delete).
        manager
            .create_index(index(
                "ix_attachment_files_ticket",
                Attachments::Table,
                [Attachments::TicketId],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_attachment_files_comment",
                Attachments::Table,
                [Attachments::CommentId],
            ))
            .await?;
        // The scanner's queue: files waiting for a (next) scan, by when.
        manager
            .create_index(index(
                "ix_attachment_files_scan_queue",
                Attachments::Table,
                [Attachments::ScanStatus, Attachments::ScanNextAt],
            ))
            .await?;
        // Retention: unattached uploads past their expiry, deleted files to purge.
        manager
            .create_index(index(
                "ix_attachment_files_expires_at",
                Attachments::Table,
                [Attachments::ExpiresAt],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_attachment_files_deleted_at",
                Attachments::Table,
                [Attachments::DeletedAt],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_attachments(manager).await?;
        let mut table = Table::create();
        table
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
            .col(timestamp_with_time_zone(Attachments::CreatedAt));
        manager
            .create_table(foreign_keys(&mut table).to_owned())
            .await?;
        manager
            .create_index(index(
                "ix_attachments_ticket",
                Attachments::Table,
                [Attachments::TicketId],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_attachments_comment",
                Attachments::Table,
                [Attachments::CommentId],
            ))
            .await?;
        Ok(())
    }
}
