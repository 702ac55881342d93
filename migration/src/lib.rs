//! Schema migrations for helpdesk.
//!
//! One file per migration, applied in order by [`Migrator`]. Every `up` has a real `down`, so
//! `helpdesk migrate down` walks the schema back step by step. Enumerations are stored as short
//! strings guarded by CHECK constraints, so SQLite and PostgreSQL hold exactly the same data.
//! No migration inserts data: demo data comes from `helpdesk seed`.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_users_and_organizations;
mod m20261122_000002_create_tickets;
mod m20261122_000003_create_audit_log;
mod m20261122_000004_create_sla;
mod m20261122_000005_create_refresh_tokens;
mod m20261122_000006_add_ticket_search;
mod m20261122_000007_create_idempotency_keys;
mod m20261122_000008_create_outbox_events;
mod m20261122_000009_create_webhooks;
mod m20261122_000010_create_sla_clock_and_stats;
mod m20261201_000011_add_session_epoch_and_client_sequence;
mod m20261201_000012_widen_webhook_secrets;
mod m20261201_000013_create_monthly_resolution_buckets;
mod m20261201_000014_add_keyset_page_indexes;
mod m20261201_000015_add_event_positions;
mod m20261202_000016_rebuild_attachments;
mod m20261202_000017_create_notifications;
mod m20261202_000018_add_escalation_notices;
mod m20261202_000019_create_second_factors;
mod m20261202_000020_create_password_resets;
mod m20261202_000021_create_api_tokens;
mod m20261202_000022_add_audit_changes;
mod m20261202_000023_add_trace_parents;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_users_and_organizations::Migration),
            Box::new(m20261122_000002_create_tickets::Migration),
            Box::new(m20261122_000003_create_audit_log::Migration),
            Box::new(m20261122_000004_create_sla::Migration),
            Box::new(m20261122_000005_create_refresh_tokens::Migration),
            Box::new(m20261122_000006_add_ticket_search::Migration),
            Box::new(m20261122_000007_create_idempotency_keys::Migration),
            Box::new(m20261122_000008_create_outbox_events::Migration),
            Box::new(m20261122_000009_create_webhooks::Migration),
            Box::new(m20261122_000010_create_sla_clock_and_stats::Migration),
            Box::new(m20261201_000011_add_session_epoch_and_client_sequence::Migration),
            Box::new(m20261201_000012_widen_webhook_secrets::Migration),
            Box::new(m20261201_000013_create_monthly_resolution_buckets::Migration),
            Box::new(m20261201_000014_add_keyset_page_indexes::Migration),
            Box::new(m20261201_000015_add_event_positions::Migration),
            Box::new(m20261202_000016_rebuild_attachments::Migration),
            Box::new(m20261202_000017_create_notifications::Migration),
            Box::new(m20261202_000018_add_escalation_notices::Migration),
            Box::new(m20261202_000019_create_second_factors::Migration),
            Box::new(m20261202_000020_create_password_resets::Migration),
            Box::new(m20261202_000021_create_api_tokens::Migration),
            Box::new(m20261202_000022_add_audit_changes::Migration),
            Box::new(m20261202_000023_add_trace_parents::Migration),
        ]
    }
}

/// The tables the migrations create, in creation order. Used by `helpdesk health`, the tests and
/// anything else that must know the full set.
pub const TABLES: &[&str] = &[
    "users",
    "organizations",
    "organization_members",
    "counters",
    "tickets",
    "comments",
    "attachments",
    "ticket_history",
    "audit_log",
    "sla_policies",
    "escalations",
    "refresh_tokens",
    "idempotency_keys",
    "outbox_events",
    "webhooks",
    "webhook_deliveries",
    "business_calendars",
    "ticket_counts",
    "ticket_stats_daily",
    "ticket_resolution_buckets",
    "ticket_resolution_buckets_monthly",
    "notifications",
    "notification_preferences",
    "second_factors",
    "recovery_codes",
    "password_resets",
    "api_tokens",
];

/// A CHECK constraint that keeps a string column inside its enumeration.
pub(crate) fn one_of(column: impl IntoIden + 'static, values: &[&str]) -> SimpleExpr {
    Expr::col(column).is_in(values.iter().map(|v| String::from(*v)))
}

/// A plain (non-unique) index over `columns` of `table`.
pub(crate) fn index<T, C>(
    name: &str,
    table: T,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement
where
    T: IntoIden + 'static,
    C: IntoIden + 'static,
{
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column.into_iden());
    }
    index.to_owned()
}
