//! Notifications to people: one row per (event, recipient, channel), made from published
//! events in the relay's transaction (as webhook deliveries are), and each user's choices of
//! what they hear on which channel.
//!
//! - `notifications`: `status` `pending` (to send) -> `sent` | `failed`; in-app rows are `sent`
//!   when made. The unique (event, user, channel) makes their creation idempotent. `read_at`
//!   is the inbox's read mark.
//! - `notification_preferences`: one row per (user, kind, channel) that differs from the
//!   default.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::{index, one_of};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    EventId,
    TicketId,
    Kind,
    Channel,
    Title,
    Body,
    Status,
    Attempts,
    NextAttemptAt,
    LastError,
    ReadAt,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum NotificationPreferences {
    Table,
    UserId,
    Kind,
    Channel,
    Enabled,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
}

/// The kinds of notice, as stored.
const KINDS: &[&str] = &[
    "reply",
    "status",
    "assigned",
    "requester_reply",
    "mention",
    "new_ticket",
    "sla_warning",
    "sla_breach",
    "escalation",
];
const CHANNELS: &[&str] = &["in_app", "email"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(pk_uuid(Notifications::Id))
                    .col(uuid(Notifications::UserId))
                    .col(big_integer_null(Notifications::EventId))
                    .col(uuid_null(Notifications::TicketId))
                    .col(
                        string_len(Notifications::Kind, 32)
                            .check(one_of(Notifications::Kind, KINDS)),
                    )
                    .col(
                        string_len(Notifications::Channel, 8)
                            .check(one_of(Notifications::Channel, CHANNELS)),
                    )
                    .col(string_len(Notifications::Title, 300))
                    .col(text(Notifications::Body))
                    .col(string_len(Notifications::Status, 12).check(one_of(
                        Notifications::Status,
                        &["pending", "sent", "failed"],
                    )))
                    .col(integer(Notifications::Attempts).default(0))
                    .col(timestamp_with_time_zone_null(Notifications::NextAttemptAt))
                    .col(text_null(Notifications::LastError))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::SentAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_user")
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notifications_ticket")
                            .from(Notifications::Table, Notifications::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One notice per event, recipient and channel, however often the relay retries.
        manager
            .create_index(
                Index::create()
                    .name("ux_notifications_event_user_channel")
                    .table(Notifications::Table)
                    .col(Notifications::EventId)
                    .col(Notifications::UserId)
                    .col(Notifications::Channel)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The inbox, newest first; and the sender's queue.
        manager
            .create_index(index(
                "ix_notifications_user_created",
                Notifications::Table,
                [Notifications::UserId, Notifications::CreatedAt],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_notifications_queue",
                Notifications::Table,
                [Notifications::Status, Notifications::NextAttemptAt],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationPreferences::Table)
                    .col(uuid(NotificationPreferences::UserId))
                    .col(
                        string_len(NotificationPreferences::Kind, 32)
                            .check(one_of(NotificationPreferences::Kind, KINDS)),
                    )
                    .col(
                        string_len(NotificationPreferences::Channel, 8)
                            .check(one_of(NotificationPreferences::Channel, CHANNELS)),
                    )
                    .col(boolean(NotificationPreferences::Enabled))
                    .col(timestamp_with_time_zone(NotificationPreferences::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(NotificationPreferences::UserId)
                            .col(NotificationPreferences::Kind)
                            .col(NotificationPreferences::Channel),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notification_preferences_user")
                            .from(
                                NotificationPreferences::Table,
                                NotificationPreferences::UserId,
                            )
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(NotificationPreferences::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await?;
        Ok(())
    }
}
