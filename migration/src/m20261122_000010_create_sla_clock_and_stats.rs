//! The SLA clock and the statistics roll-ups.
//!
//! - `business_calendars`: a time zone, working intervals per weekday and holidays; a policy
//!   with a calendar counts only working time.
//! - Per ticket, the clock's state: the policy it is measured against, the intervals in which
//!   the clock did not run, the due dates (for filters and the scanner) and when the scanner
//!   next has to look at it, plus the warning and breach marks that make each notice go out
//!   once.
//! - `ticket_counts` (current tickets per organization, assignee, status and priority),
//!   `ticket_stats_daily` and `ticket_resolution_buckets` (per organization, assignee and local
//!   day): written in the transaction of every ticket change, so statistics never scan tickets.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;
use crate::m20261122_000001_create_users_and_organizations::Organizations;
use crate::m20261122_000002_create_tickets::Tickets;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The ticket columns this migration adds, all nullable.
const TICKET_TIMES: [TicketSla; 7] = [
    TicketSla::SlaPausedSince,
    TicketSla::FirstResponseDueAt,
    TicketSla::ResolutionDueAt,
    TicketSla::SlaNextCheckAt,
    TicketSla::FirstResponseWarnedAt,
    TicketSla::FirstResponseBreachedAt,
    TicketSla::ResolutionWarnedAt,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BusinessCalendars::Table)
                    .col(pk_uuid(BusinessCalendars::Id))
                    .col(string_len(BusinessCalendars::Name, 100))
                    // An IANA zone name, e.g. `Europe/Berlin`.
                    .col(string_len(BusinessCalendars::TimeZone, 64))
                    // `[{"day": "monday", "from": "09:00", "to": "17:00"}, ...]`, local time.
                    .col(json(BusinessCalendars::WorkingHours))
                    // `["2026-12-25", ...]`, local dates without working time.
                    .col(json(BusinessCalendars::Holidays))
                    .col(timestamp_with_time_zone(BusinessCalendars::CreatedAt))
                    .col(timestamp_with_time_zone(BusinessCalendars::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // SQLite cannot add a foreign key to an existing table; the service checks that the
        // calendar exists, and calendars are never deleted.
        manager
            .alter_table(
                Table::alter()
                    .table(SlaPolicies::Table)
                    .add_column(uuid_null(SlaPolicies::BusinessCalendarId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(string_len(OrganizationZone::TimeZone, 64).default("UTC"))
                    .to_owned(),
            )
            .await?;

        // One column per statement: SQLite alters one column at a time.
        for column in [
            uuid_null(TicketSla::SlaPolicyId),
            // `[{"from": "...", "to": "..." | null}, ...]`: when the resolution clock stood
            // still (waiting for the customer, or resolved until a reopen).
            json_null(TicketSla::SlaPauses),
            timestamp_with_time_zone_null(TicketSla::ResolutionBreachedAt),
        ]
        .into_iter()
        .chain(TICKET_TIMES.map(timestamp_with_time_zone_null))
        {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // The scanner's queue: tickets whose next SLA moment has come.
        manager
            .create_index(index(
                "ix_tickets_sla_next_check",
                Tickets::Table,
                [TicketSla::SlaNextCheckAt],
            ))
            .await?;
        // `tickets(filter: { resolutionDueBefore })` and the breached count.
        manager
            .create_index(index(
                "ix_tickets_resolution_due",
                Tickets::Table,
                [TicketSla::ResolutionDueAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TicketCounts::Table)
                    .col(uuid(TicketCounts::OrganizationId))
                    // The nil UUID for unassigned tickets, so the key has no NULL in it.
                    .col(uuid(TicketCounts::AgentId))
                    .col(string_len(TicketCounts::Status, 16))
                    .col(string_len(TicketCounts::Priority, 16))
                    // Marked breached by the SLA scanner (its resolution target passed).
                    .col(boolean(TicketCounts::Breached))
                    .col(big_integer(TicketCounts::Count).default(0))
                    .primary_key(
                        Index::create()
                            .col(TicketCounts::OrganizationId)
                            .col(TicketCounts::AgentId)
                            .col(TicketCounts::Status)
                            .col(TicketCounts::Priority)
                            .col(TicketCounts::Breached),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TicketStatsDaily::Table)
                    .col(uuid(TicketStatsDaily::OrganizationId))
                    .col(uuid(TicketStatsDaily::AgentId))
                    .col(date(TicketStatsDaily::Day))
                    .col(big_integer(TicketStatsDaily::Created).default(0))
                    .col(big_integer(TicketStatsDaily::Resolved).default(0))
                    .col(big_integer(TicketStatsDaily::Reopened).default(0))
                    .col(big_integer(TicketStatsDaily::FirstResponses).default(0))
                    .col(big_integer(TicketStatsDaily::FirstResponseMinutes).default(0))
                    .col(big_integer(TicketStatsDaily::ResolutionMinutes).default(0))
                    .col(big_integer(TicketStatsDaily::SlaMeasured).default(0))
                    .col(big_integer(TicketStatsDaily::SlaMet).default(0))
                    .primary_key(
                        Index::create()
                            .col(TicketStatsDaily::OrganizationId)
                            .col(TicketStatsDaily::AgentId)
                            .col(TicketStatsDaily::Day),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_ticket_stats_daily_day",
                TicketStatsDaily::Table,
                [TicketStatsDaily::Day],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TicketResolutionBuckets::Table)
                    .col(uuid(TicketResolutionBuckets::OrganizationId))
                    .col(uuid(TicketResolutionBuckets::AgentId))
                    .col(date(TicketResolutionBuckets::Day))
                    // A log-linear bucket of the resolution time in minutes (exact below 128).
                    .col(integer(TicketResolutionBuckets::Bucket))
                    .col(big_integer(TicketResolutionBuckets::Count).default(0))
                    .primary_key(
                        Index::create()
                            .col(TicketResolutionBuckets::OrganizationId)
                            .col(TicketResolutionBuckets::AgentId)
                            .col(TicketResolutionBuckets::Day)
                            .col(TicketResolutionBuckets::Bucket),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TicketResolutionBuckets::Table.into_iden(),
            TicketStatsDaily::Table.into_iden(),
            TicketCounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for name in ["ix_tickets_resolution_due", "ix_tickets_sla_next_check"] {
            manager
                .drop_index(Index::drop().name(name).table(Tickets::Table).to_owned())
                .await?;
        }
        let mut columns = vec![
            TicketSla::SlaPolicyId,
            TicketSla::SlaPauses,
            TicketSla::ResolutionBreachedAt,
        ];
        columns.extend(TICKET_TIMES);
        for column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .drop_column(OrganizationZone::TimeZone)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SlaPolicies::Table)
                    .drop_column(SlaPolicies::BusinessCalendarId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(BusinessCalendars::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum BusinessCalendars {
    Table,
    Id,
    Name,
    TimeZone,
    WorkingHours,
    Holidays,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SlaPolicies {
    Table,
    BusinessCalendarId,
}

#[derive(DeriveIden)]
enum OrganizationZone {
    TimeZone,
}

#[derive(DeriveIden, Clone, Copy)]
enum TicketSla {
    SlaPolicyId,
    SlaPauses,
    SlaPausedSince,
    FirstResponseDueAt,
    ResolutionDueAt,
    SlaNextCheckAt,
    FirstResponseWarnedAt,
    FirstResponseBreachedAt,
    ResolutionWarnedAt,
    ResolutionBreachedAt,
}

#[derive(DeriveIden)]
enum TicketCounts {
    Table,
    OrganizationId,
    AgentId,
    Status,
    Priority,
    Breached,
    Count,
}

#[derive(DeriveIden)]
enum TicketStatsDaily {
    Table,
    OrganizationId,
    AgentId,
    Day,
    Created,
    Resolved,
    Reopened,
    FirstResponses,
    FirstResponseMinutes,
    ResolutionMinutes,
    SlaMeasured,
    SlaMet,
}

#[derive(DeriveIden)]
enum TicketResolutionBuckets {
    Table,
    OrganizationId,
    AgentId,
    Day,
    Bucket,
    Count,
}
