use std::process::ExitCode;

use api::config::DatabaseSettings;
use clap::{Args, Subcommand};
use migration::{Migrator, MigratorTrait};

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
    /// List every migration and whether it is applied; exit 1 when the database has a
    /// migration this helpdesk does not know (a newer version ran on it).
    Status,
    /// Apply all pending migrations.
    Up {
        /// List what would be applied, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
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
        /// List what would be rolled back, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Drop every table in the database and apply all migrations from scratch.
    Fresh {
        /// Do not ask for confirmation.
        #[arg(long, env = "HELPDESK_YES")]
        yes: bool,
        /// List what would be dropped and applied, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The migrations this binary knows, oldest first.
fn known() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect()
}

/// The migrations applied to the database, oldest first (none before the first `up`).
async fn applied(db: &sea_orm::DatabaseConnection) -> Result<Vec<String>, BoxError> {
    let tables = super::backup::database::tables(db).await?;
    if !tables.iter().any(|t| t == "seaql_migrations") {
        return Ok(Vec::new());
    }
    super::backup::database::migrations(db).await
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub async fn run(args: MigrateArgs) -> CommandResult {
    let mut settings = args.database.clone();
    if matches!(args.action, Action::Fresh { .. })
        && service::db::backend_of(&settings.database_url)? == service::db::Backend::Sqlite
    {
        // SQLite's foreign-key switch is per connection: dropping every table must happen on
        // the connection that turned it off.
        settings.db_max_connections = 1;
    }
    let db = connect(&settings).await?;
    let target = service::db::redact(&args.database.database_url);
    let known = known();
    let applied = applied(&db).await?;
    let unknown: Vec<&String> = applied.iter().filter(|m| !known.contains(m)).collect();
    match args.action {
        Action::Status => {
            let mut pending = 0;
            for name in &known {
                let status = if applied.contains(name) {
                    "applied"
                } else {
                    pending += 1;
                    "pending"
                };
                out!("{status:<8} {name}");
            }
            for name in &unknown {
                out!("unknown  {name}");
            }
            out!("{} applied, {pending} pending", known.len() - pending,);
            if !unknown.is_empty() {
                eprintln!(
                    "error: the database has {} migration(s) this helpdesk does not know: a \
                     newer version has run on it",
                    unknown.len()
                );
                return Ok(ExitCode::FAILURE);
            }
        }
        Action::Up { dry_run: true } => {
            let pending: Vec<&String> = known.iter().filter(|m| !applied.contains(m)).collect();
            for name in &pending {
                out!("would apply  {name}");
            }
            out!("{} migration(s) would be applied (dry run)", pending.len());
        }
        Action::Up { dry_run: false } => {
            let applied = api::startup::apply_migrations(&db).await?;
            for name in &applied {
                out!("applied  {name}");
            }
            out!(
                "{} migration(s) applied, schema is up to date",
                applied.len()
            );
        }
        Action::Down {
            steps,
            all,
            yes,
            dry_run,
        } => {
            if dry_run {
                let count = if all { applied.len() } else { steps as usize };
                let undone: Vec<&String> = applied.iter().rev().take(count).collect();
                for name in &undone {
                    out!("would roll back  {name}");
                }
                out!(
                    "{} migration(s) would be rolled back (dry run)",
                    undone.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
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
            out!(
                "{} migration(s) rolled back, {after} applied",
                before - after
            );
        }
        Action::Fresh { yes, dry_run } => {
            if dry_run {
                let tables = super::backup::database::tables(&db).await?;
                for table in &tables {
                    out!("would drop   {table}");
                }
                for name in &known {
                    out!("would apply  {name}");
                }
                out!(
                    "{} table(s) would be dropped and {} migration(s) applied (dry run)",
                    tables.len(),
                    known.len()
                );
                return Ok(ExitCode::SUCCESS);
            }
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
            out!("database recreated, {applied} migration(s) applied");
        }
    }
    Ok(ExitCode::SUCCESS)
}
