//! SLA policies (targets per priority) and escalations (one row per ticket, target and level).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261122_000002_create_tickets::Tickets;
use crate::{index, one_of};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SlaPolicies::Table)
                    .col(pk_uuid(SlaPolicies::Id))
                    .col(string_len(SlaPolicies::Name, 100))
                    .col(string_len(SlaPolicies::Priority, 16).check(one_of(
                        SlaPolicies::Priority,
                        &["low", "medium", "high", "critical"],
                    )))
                    .col(
                        integer(SlaPolicies::FirstResponseMinutes)
                            .check(Expr::col(SlaPolicies::FirstResponseMinutes).gt(0)),
                    )
                    .col(
                        integer(SlaPolicies::ResolutionMinutes)
                            .check(Expr::col(SlaPolicies::ResolutionMinutes).gt(0)),
                    )
                    .col(
                        integer(SlaPolicies::WarnBeforeMinutes)
                            .default(0)
                            .check(Expr::col(SlaPolicies::WarnBeforeMinutes).gte(0)),
                    )
                    // The escalation ladder as JSON: `[{"level": 1, "afterMinutes": 0,
                    // "notify": "team_lead"}, ...]`, minutes counted from the breach.
                    .col(json(SlaPolicies::EscalationLevels))
                    .col(boolean(SlaPolicies::IsActive).default(true))
                    .col(timestamp_with_time_zone(SlaPolicies::CreatedAt))
                    .col(timestamp_with_time_zone(SlaPolicies::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // At most one active policy per priority: the SLA engine looks a ticket's policy up by
        // its priority and must find exactly one. Inactive policies are kept for tickets that
        // were measured against them. A partial index reads the same on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_sla_policies_active_priority \
                 ON sla_policies (priority) WHERE is_active",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Escalations::Table)
                    .col(pk_uuid(Escalations::Id))
                    .col(uuid(Escalations::TicketId))
                    .col(uuid_null(Escalations::SlaPolicyId))
                    .col(string_len(Escalations::Target, 16).check(one_of(
                        Escalations::Target,
                        &["first_response", "resolution"],
                    )))
                    .col(integer(Escalations::Level).check(Expr::col(Escalations::Level).gt(0)))
                    .col(timestamp_with_time_zone(Escalations::DueAt))
                    .col(timestamp_with_time_zone(Escalations::EscalatedAt))
                    .col(timestamp_with_time_zone_null(Escalations::AcknowledgedAt))
                    .col(uuid_null(Escalations::AcknowledgedBy))
                    .col(timestamp_with_time_zone(Escalations::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_escalations_ticket")
                            .from(Escalations::Table, Escalations::TicketId)
                            .to(Tickets::Table, Tickets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_escalations_policy")
                            .from(Escalations::Table, Escalations::SlaPolicyId)
                            .to(SlaPolicies::Table, SlaPolicies::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Each breach escalates once per level: a second scanner (another replica, a retry) that
        // tries to insert the same level hits this constraint instead of notifying twice. It also
        // serves "escalations of a ticket".
        manager
            .create_index(
                Index::create()
                    .name("ux_escalations_ticket_target_level")
                    .table(Escalations::Table)
                    .col(Escalations::TicketId)
                    .col(Escalations::Target)
                    .col(Escalations::Level)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The open-escalations dashboard: unacknowledged, newest first.
        manager
            .create_index(index(
                "ix_escalations_acknowledged_escalated",
                Escalations::Table,
                [Escalations::AcknowledgedAt, Escalations::EscalatedAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Escalations::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SlaPolicies::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SlaPolicies {
    Table,
    Id,
    Name,
    Priority,
    FirstResponseMinutes,
    ResolutionMinutes,
    WarnBeforeMinutes,
    EscalationLevels,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Escalations {
    Table,
    Id,
    TicketId,
    SlaPolicyId,
    Target,
    Level,
    DueAt,
    EscalatedAt,
    AcknowledgedAt,
    AcknowledgedBy,
    CreatedAt,
}
