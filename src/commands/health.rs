use std::process::ExitCode;

use api::config::{DatabaseSettings, RedisSettings};
use clap::Args;

use super::{CommandResult, connect};

#[derive(Args)]
pub struct HealthArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    redis: RedisSettings,
}

/// One line per part, `ok` or `error`, and exit 1 if any part failed.
pub async fn run(args: HealthArgs) -> CommandResult {
    let mut healthy = true;
    match connect(&args.database).await {
        Ok(db) => {
            let check = service::health::database(&db).await;
            healthy &= report(&check);
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
