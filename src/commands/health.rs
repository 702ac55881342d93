use std::process::ExitCode;

use api::config::{DatabaseSettings, RedisSettings, StorageSettings};
use clap::Args;

use super::{CommandResult, connect};

#[derive(Args)]
pub struct HealthArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    redis: RedisSettings,
    #[command(flatten)]
    storage: StorageSettings,
    /// ClamAV's clamd, checked with PING when set (`tcp://host:port` or `unix:/path`).
    #[arg(long, env = "HELPDESK_CLAMD_ADDR")]
    clamd_addr: Option<String>,
    /// Also print connections, database and table sizes, the event log's lag and the
    /// webhook and email backlogs.
    #[arg(long)]
    detailed: bool,
}

/// One line per part, `ok` or `error`, and exit 1 if any part failed.
pub async fn run(args: HealthArgs) -> CommandResult {
    let mut healthy = true;
    match connect(&args.database).await {
        Ok(db) => {
            let check = service::health::database(&db).await;
            healthy &= report(&check);
            if check.is_ok() {
                healthy &= attachments(&db, &args).await;
            }
            let pending = api::startup::pending_migrations(&db).await;
            if args.detailed && check.is_ok() {
                if pending.as_ref().is_ok_and(Vec::is_empty) {
                    if let Err(err) = details(&db, &args).await {
                        healthy = false;
                        out!("details: error ({err})");
                    }
                } else {
                    out!("details: not read (the schema is not up to date)");
                }
            }
            match pending {
                Ok(pending) if pending.is_empty() => out!("migrations: ok (up to date)"),
                Ok(pending) => {
                    healthy = false;
                    out!("migrations: error ({} pending)", pending.len());
                }
                Err(err) => {
                    healthy = false;
                    out!("migrations: error ({})", api::startup::error_chain(&err));
                }
            }
        }
        Err(err) => {
            healthy = false;
            out!("database: error ({err})");
        }
    }
    if let Some(url) = &args.redis.redis_url {
        match service::redis::connect(url).await {
            Ok(conn) => healthy &= report(&service::health::redis(&conn).await),
            Err(err) => {
                healthy = false;
                out!("redis: error ({err})");
            }
        }
    }
    if let Some(addr) = args.clamd_addr.as_deref().filter(|a| !a.trim().is_empty()) {
        let pinged = match service::attachment::scan::ClamdAddr::parse(addr) {
            Ok(addr) => service::attachment::scan::Scanner::new(addr).ping().await,
            Err(err) => Err(err),
        };
        match pinged {
            Ok(()) => out!("clamd: ok (answers PING)"),
            Err(err) => {
                healthy = false;
                out!("clamd: error ({err})");
            }
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report(check: &service::health::Check) -> bool {
    match &check.result {
        Ok(detail) => out!("{}: ok ({detail})", check.part),
        Err(reason) => out!("{}: error ({reason})", check.part),
    }
    check.is_ok()
}

/// Attachments' storage against their table: every stored object has a row, every complete
/// file its object. Reads only (a directory not made yet holds nothing).
async fn attachments(db: &sea_orm::DatabaseConnection, args: &HealthArgs) -> bool {
    let dir = args.storage.dir_for(&args.database.database_url);
    if args.storage.url().is_none() && !dir.exists() {
        return match service::attachment::check_rows_only(db).await {
            Ok(0) => {
                out!(
                    "attachments: ok (no files; {} not created yet)",
                    dir.display()
                );
                true
            }
            Ok(files) => {
                out!(
                    "attachments: error ({files} file(s) without their object: {} does not exist)",
                    dir.display()
                );
                false
            }
            Err(err) => {
                out!("attachments: error ({err})");
                false
            }
        };
    }
    let storage = match args.storage.open(&args.database.database_url) {
        Ok(storage) => storage,
        Err(err) => {
            out!("attachments: error ({err})");
            return false;
        }
    };
    match service::attachment::check(db, &storage).await {
        Ok(report) if report.is_consistent() => {
            out!(
                "attachments: ok ({} file(s) in {}, each with its row)",
                report.objects,
                storage.describe()
            );
            true
        }
        Ok(report) => {
            let mut problems = Vec::new();
            if !report.objects_without_row.is_empty() {
                problems.push(format!(
                    "{} object(s) without a row, e.g. {}",
                    report.objects_without_row.len(),
                    report.objects_without_row[0]
                ));
            }
            if !report.rows_without_object.is_empty() {
                problems.push(format!(
                    "{} file(s) without their object, e.g. attachment {}",
                    report.rows_without_object.len(),
                    report.rows_without_object[0]
                ));
            }
            out!(
                "attachments: error ({} in {})",
                problems.join("; "),
                storage.describe()
            );
            false
        }
        Err(err) => {
            out!("attachments: error ({err})");
            false
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn scalar(
    db: &sea_orm::DatabaseConnection,
    sql: &str,
) -> Result<sea_orm::QueryResult, Error> {
    use sea_orm::ConnectionTrait;
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await?
    .ok_or_else(|| format!("no answer to {sql}").into())
}

/// What `--detailed` adds: one line each, facts rather than verdicts.
async fn details(db: &sea_orm::DatabaseConnection, args: &HealthArgs) -> Result<(), Error> {
    use sea_orm::ConnectionTrait;
    let backend = db.get_database_backend();
    match service::db::Backend::of(db) {
        service::db::Backend::Postgres => {
            let row = scalar(
                db,
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) AS used, \
                 current_setting('max_connections')::bigint AS max, \
                 pg_database_size(current_database()) AS bytes",
            )
            .await?;
            out!(
                "connections: {} open to this database, the server allows {}; each helpdesk server pools up to {}",
                row.try_get::<i64>("", "used")?,
                row.try_get::<i64>("", "max")?,
                args.database.db_max_connections
            );
            out!("database size: {} bytes", row.try_get::<i64>("", "bytes")?);
            let tables = db
                .query_all_raw(sea_orm::Statement::from_string(
                    backend,
                    "SELECT relname AS name, pg_total_relation_size(relid) AS bytes, n_live_tup AS rows \
                     FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC, relname",
                ))
                .await?;
            for table in &tables {
                out!(
                    "table {:<34} {:>12} bytes  ~{} rows",
                    table.try_get::<String>("", "name")?,
                    table.try_get::<i64>("", "bytes")?,
                    table.try_get::<i64>("", "rows")?
                );
            }
        }
        service::db::Backend::Sqlite => {
            let pages = scalar(db, "SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()").await?;
            out!(
                "connections: one database file; each helpdesk server pools up to {}",
                args.database.db_max_connections
            );
            out!(
                "database size: {} bytes",
                pages.try_get::<i64>("", "bytes")?
            );
            for table in crate::commands::backup::database::tables(db).await? {
                if table.starts_with("ticket_search") {
                    continue;
                }
                let rows = scalar(db, &format!("SELECT COUNT(*) AS rows FROM \"{table}\"")).await?;
                out!(
                    "table {:<34} {} rows",
                    table,
                    rows.try_get::<i64>("", "rows")?
                );
            }
        }
    }
    let backlogs = service::health::backlogs(db).await?;
    let now = chrono::Utc::now();
    for (what, queue, state) in [
        ("event log", backlogs.events, "unpublished"),
        ("webhook deliveries", backlogs.webhooks, "pending"),
        ("email notices", backlogs.mail, "pending"),
    ] {
        let oldest = match queue.oldest {
            Some(_) => format!("oldest {} s old", queue.age_seconds(now)),
            None => "none waiting".into(),
        };
        out!("{what}: {} {state}, {oldest}", queue.waiting);
    }
    Ok(())
}
