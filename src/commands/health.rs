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
            match api::startup::pending_migrations(&db).await {
                Ok(pending) if pending.is_empty() => println!("migrations: ok (up to date)"),
                Ok(pending) => {
                    healthy = false;
                    println!("migrations: error ({} pending)", pending.len());
                }
                Err(err) => {
                    healthy = false;
                    println!("migrations: error ({})", api::startup::error_chain(&err));
                }
            }
        }
        Err(err) => {
            healthy = false;
            println!("database: error ({err})");
        }
    }
    if let Some(url) = &args.redis.redis_url {
        match service::redis::connect(url).await {
            Ok(conn) => healthy &= report(&service::health::redis(&conn).await),
            Err(err) => {
                healthy = false;
                println!("redis: error ({err})");
            }
        }
    }
    if let Some(addr) = args.clamd_addr.as_deref().filter(|a| !a.trim().is_empty()) {
        let pinged = match service::attachment::scan::ClamdAddr::parse(addr) {
            Ok(addr) => service::attachment::scan::Scanner::new(addr).ping().await,
            Err(err) => Err(err),
        };
        match pinged {
            Ok(()) => println!("clamd: ok (answers PING)"),
            Err(err) => {
                healthy = false;
                println!("clamd: error ({err})");
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
        Ok(detail) => println!("{}: ok ({detail})", check.part),
        Err(reason) => println!("{}: error ({reason})", check.part),
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
                println!(
                    "attachments: ok (no files; {} not created yet)",
                    dir.display()
                );
                true
            }
            Ok(files) => {
                println!(
                    "attachments: error ({files} file(s) without their object: {} does not exist)",
                    dir.display()
                );
                false
            }
            Err(err) => {
                println!("attachments: error ({err})");
                false
            }
        };
    }
    let storage = match args.storage.open(&args.database.database_url) {
        Ok(storage) => storage,
        Err(err) => {
            println!("attachments: error ({err})");
            return false;
        }
    };
    match service::attachment::check(db, &storage).await {
        Ok(report) if report.is_consistent() => {
            println!(
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
            println!(
                "attachments: error ({} in {})",
                problems.join("; "),
                storage.describe()
            );
            false
        }
        Err(err) => {
            println!("attachments: error ({err})");
            false
        }
    }
}
