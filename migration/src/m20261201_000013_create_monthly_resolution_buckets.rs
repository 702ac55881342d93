//! The resolution histogram by month, beside the one by day: the same rows summed per
//! organization, assignee, local month and bucket. A median over a year reads the months the
//! period covers whole and the days at its two ends, instead of one row per day, organization,
//! assignee and bucket. Written with the daily rows, in the same transactions; filled here from
//! the daily rows already stored. The daily histogram gains an index by day, for the ends.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TicketResolutionBucketsMonthly::Table)
                    .col(uuid(TicketResolutionBucketsMonthly::OrganizationId))
                    .col(uuid(TicketResolutionBucketsMonthly::AgentId))
                    // The first day of the local month.
                    .col(date(TicketResolutionBucketsMonthly::Month))
                    .col(integer(TicketResolutionBucketsMonthly::Bucket))
                    .col(big_integer(TicketResolutionBucketsMonthly::Count).default(0))
                    .primary_key(
                        Index::create()
                            .col(TicketResolutionBucketsMonthly::OrganizationId)
                            .col(TicketResolutionBucketsMonthly::AgentId)
                            .col(TicketResolutionBucketsMonthly::Month)
                            .col(TicketResolutionBucketsMonthly::Bucket),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ticket_resolution_buckets_day")
                    .table(TicketResolutionBuckets::Table)
                    .col(TicketResolutionBuckets::Day)
                    .to_owned(),
            )
            .await?;
        let month = match manager.get_database_backend() {
            DbBackend::Postgres => "CAST(date_trunc('month', day) AS date)",
            _ => "date(day, 'start of month')",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO ticket_resolution_buckets_monthly \
                 (organization_id, agent_id, month, bucket, count) \
                 SELECT organization_id, agent_id, {month}, bucket, SUM(count) \
                 FROM ticket_resolution_buckets \
                 GROUP BY organization_id, agent_id, {month}, bucket"
            ))
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_ticket_resolution_buckets_day")
                    .table(TicketResolutionBuckets::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(TicketResolutionBucketsMonthly::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum TicketResolutionBucketsMonthly {
    Table,
    OrganizationId,
    AgentId,
    Month,
    Bucket,
    Count,
}

#[derive(DeriveIden)]
enum TicketResolutionBuckets {
    Table,
    Day,
}
