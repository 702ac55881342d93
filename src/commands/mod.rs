//! One module per subcommand.

pub mod data_key;
pub mod health;
pub mod migrate;
pub mod seed;
pub mod serve;
pub mod user;

use std::process::ExitCode;

use api::config::DatabaseSettings;
use sea_orm::DatabaseConnection;

pub type CommandResult = Result<ExitCode, Box<dyn std::error::Error + Send + Sync>>;

/// Opens the database for a CLI command.
pub async fn connect(
    settings: &DatabaseSettings,
) -> Result<DatabaseConnection, service::db::ConnectError> {
    service::db::connect(
        &settings.database_url,
        service::db::DbOptions {
            max_connections: settings.db_max_connections,
            slow_statement: settings.slow_statement(),
            ..Default::default()
        },
    )
    .await
}

/// Asks a yes/no question on the terminal; anything but `y`/`yes` is no.
pub fn confirm(question: &str) -> bool {
    use std::io::{BufRead, Write};
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}
