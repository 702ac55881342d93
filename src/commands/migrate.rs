use std::process::ExitCode;

use api::config::DatabaseSettings;
use clap::{Args, Subcommand};
use migration::{MigrationStatus, Migrator, MigratorTrait};

use super::{CommandResult, confirm, connect};

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// List every migration and whether it is applied.
    Status,
    /// Apply all pending migrations.
    Up,
    /// Roll back the newest migrations.
    Down {
        /// How many migrations to roll back.
        #[arg(long, env = "HELPDESK_MIGRATE_STEPS", default_value_t = 1)]
        steps: u32,
        /// Roll back every migration (drops every table helpdesk created); wins over --steps.
        #[arg(long, env = "HELPDESK_MIGRATE_ALL")]
        all: bool,
        /// Do not ask for confirmation.
        #[arg(long, env = "HELPDESK_YES")]
        yes: bool,
    },
    /// Drop every table in the database and apply all migrations from scratch.
    Fresh {
        /// Do not ask for confirmation.
        #[arg(long, env = "HELPDESK_YES")]
        yes: bool,
    },
}

pub async fn run(args: MigrateArgs) -> CommandResult {
    let db = connect(&args.database).await?;
    let target = service::db::redact(&args.database.database_url);
    match args.action {
        Action::Status => {
            let migrations = Migrator::get_migration_with_status_read_only(&db).await?;
            let mut pending = 0;
            for migration in &migrations {
                let status = match migration.status() {
                    MigrationStatus::Applied => "applied",
                    MigrationStatus::Pending => {
                        pending += 1;
                        "pending"
                    }
                };
                println!("{status:<8} {}", migration.name());
            }
            println!("{} applied, {pending} pending", migrations.len() - pending);
        }
        Action::Up => {
            let applied = api::startup::apply_migrations(&db).await?;
            for name in &applied {
                println!("applied  {name}");
            }
            println!(
                "{} migration(s) applied, schema is up to date",
                applied.len()
            );
        }
        Action::Down { steps, all, yes } => {
            let what = if all {
                "every migration".to_string()
            } else {
                format!("{steps} migration(s)")
            };
            if !yes
                && !confirm(&format!(
                    "Roll back {what} on {target}? Data in dropped tables is lost."
                ))
            {
                eprintln!("aborted");
                return Ok(ExitCode::FAILURE);
            }
            let before = Migrator::get_applied_migrations(&db).await?.len();
            Migrator::down(&db, if all { None } else { Some(steps) }).await?;
            let after = Migrator::get_applied_migrations(&db).await?.len();
            println!(
                "{} migration(s) rolled back, {after} applied",
                before - after
            );
        }
        Action::Fresh { yes } => {
            if !yes
                && !confirm(&format!(
                    "Drop EVERY table on {target} and migrate from scratch?"
                ))
            {
                eprintln!("aborted");
                return Ok(ExitCode::FAILURE);
            }
            Migrator::fresh(&db).await?;
            let applied = Migrator::get_applied_migrations(&db).await?.len();
            println!("database recreated, {applied} migration(s) applied");
        }
    }
    Ok(ExitCode::SUCCESS)
}
