//! One module per subcommand.

pub mod backup;
pub mod data_key;
pub mod health;
pub mod maintenance;
pub mod migrate;
pub mod seed;
pub mod serve;
pub mod stats;
pub mod transfer;
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

/// The id of the organization named `name`, or a one-line error.
pub async fn organization_named(
    db: &DatabaseConnection,
    name: &str,
) -> Result<uuid::Uuid, Box<dyn std::error::Error + Send + Sync>> {
    use entity::organization;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Ok(organization::Entity::find()
        .filter(organization::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| format!("no organization is named {name}"))?
        .id)
}
