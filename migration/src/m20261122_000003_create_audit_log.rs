//! The audit log: who did what security-relevant thing, from where. Append-only; old entries are
//! removed by the retention job, never edited.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;
use crate::m20261122_000001_create_users_and_organizations::Users;
use crate::m20261122_000002_create_tickets::Tickets;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(pk_uuid(AuditLog::Id))
                    // Entries outlive the accounts and tickets they mention: SET NULL, not CASCADE.
                    .col(uuid_null(AuditLog::UserId))
                    .col(string_len(AuditLog::Action, 64))
                    .col(uuid_null(AuditLog::TicketId))
                    .col(text(AuditLog::Description))
                    .col(string_len_null(AuditLog::IpAddress, 45))
                    .col(string_len_null(AuditLog::UserAgent, 512))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_log_user")
                            .from(AuditLog::Table, AuditLog::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_log_ticket")
                            .from(AuditLog::Table, AuditLog::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // A user's recent activity: "what did this account do, newest first".
        manager
            .create_index(index(
                "ix_audit_log_user_created_at",
                AuditLog::Table,
                [AuditLog::UserId, AuditLog::CreatedAt],
            ))
            .await?;
        // Security reviews by kind of event: "all failed logins this week".
        manager
            .create_index(index(
                "ix_audit_log_action_created_at",
                AuditLog::Table,
                [AuditLog::Action, AuditLog::CreatedAt],
            ))
            .await?;
        // The retention job deletes everything older than a cut-off.
        manager
            .create_index(index(
                "ix_audit_log_created_at",
                AuditLog::Table,
                [AuditLog::CreatedAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    UserId,
    Action,
    TicketId,
    Description,
    IpAddress,
    UserAgent,
    CreatedAt,
}
