//! `helpdesk cleanup` (every retention rule, now) and `helpdesk maintenance` (the database's
//! own upkeep).

use std::process::ExitCode;

use api::config::{DatabaseSettings, JobSettings, StorageSettings};
use clap::Args;
use sea_orm::{ConnectionTrait, Statement};

use super::{CommandResult, connect};

#[derive(Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    jobs: JobSettings,
    #[command(flatten)]
    storage: StorageSettings,
    /// Count what would be removed, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs the retention rules, auto-close and the attachment purge of the background jobs
/// once, now, and prints what each removed (or would).
pub async fn cleanup(args: CleanupArgs) -> CommandResult {
    let db = connect(&args.database).await?;
    let now = chrono::Utc::now();
    let policy = args.jobs.retention();
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let (retained, closed, files) = if args.dry_run {
        (
            service::jobs::retention_preview(&db, now, &policy).await?,
            service::jobs::auto_close_preview(&db, now, args.jobs.auto_close_days).await?,
            service::attachment::purgeable_count(&db, now, now).await?,
        )
    } else {
        let storage = args.storage.open(&args.database.database_url)?;
        let mut files = 0;
        loop {
            let round = service::attachment::purge(&db, &storage, now, now).await?;
            files += round;
            if round == 0 {
                break;
            }
        }
        (
            service::jobs::retention(&db, now, &policy).await?,
            service::jobs::auto_close(&db, now, args.jobs.auto_close_days).await?,
            files,
        )
    };
    let lines = [
        (
            "audit log entries",
            retained.audit_entries,
            format!("older than {} days", policy.audit_days),
        ),
        (
            "published events",
            retained.events,
            format!("older than {} days", policy.event_days),
        ),
        (
            "delivered webhook deliveries",
            retained.deliveries,
            format!("older than {} days", service::jobs::DELIVERY_RETENTION_DAYS),
        ),
        (
            "failed webhook deliveries",
            retained.failed_deliveries,
            format!("older than {} days", policy.failed_delivery_days),
        ),
        (
            "idempotency keys",
            retained.idempotency_keys,
            "past their 24 hours".into(),
        ),
        ("refresh tokens", retained.refresh_tokens, "expired".into()),
        (
            "password reset links",
            retained.password_resets,
            "a day past their hour".into(),
        ),
        (
            "previous webhook secrets",
            retained.previous_secrets,
            "overlap ended".into(),
        ),
        (
            "attachments",
            files,
            "expired uploads and deleted files".into(),
        ),
    ];
    for (what, count, rule) in &lines {
        out!("{verb} {count:>6} {what} ({rule})");
    }
    out!(
        "{} {closed:>6} resolved tickets closed (resolved more than {} days ago)",
        if args.dry_run { "would have" } else { "closed" },
        args.jobs.auto_close_days
    );
    if args.dry_run {
        out!("dry run: nothing was changed");
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct MaintenanceArgs {
    #[command(flatten)]
    database: DatabaseSettings,
}

/// PostgreSQL: `VACUUM (ANALYZE)`. SQLite: `PRAGMA optimize`, `VACUUM` and
/// `PRAGMA integrity_check`, whose verdict decides the exit code.
pub async fn maintenance(args: MaintenanceArgs) -> CommandResult {
    let db = connect(&args.database).await?;
    let backend = db.get_database_backend();
    let started = std::time::Instant::now();
    match service::db::Backend::of(&db) {
        service::db::Backend::Postgres => {
            db.execute_unprepared("VACUUM (ANALYZE)").await?;
            out!("VACUUM (ANALYZE): done in {:.1?}", started.elapsed());
        }
        service::db::Backend::Sqlite => {
            db.execute_unprepared("PRAGMA optimize").await?;
            out!("PRAGMA optimize: done");
            db.execute_unprepared("VACUUM").await?;
            out!("VACUUM: done");
            let rows = db
                .query_all_raw(Statement::from_string(backend, "PRAGMA integrity_check"))
                .await?;
            let verdicts: Vec<String> = rows
                .iter()
                .map(|r| r.try_get_by_index::<String>(0))
                .collect::<Result<_, _>>()?;
            if verdicts != ["ok"] {
                out!("integrity check: error");
                for verdict in &verdicts {
                    out!("  {verdict}");
                }
                return Ok(ExitCode::FAILURE);
            }
            out!("integrity check: ok ({:.1?} in all)", started.elapsed());
        }
    }
    Ok(ExitCode::SUCCESS)
}
