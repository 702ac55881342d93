use std::process::ExitCode;

use api::config::{DataKeySettings, DatabaseSettings};
use clap::{Args, Subcommand};

use super::{CommandResult, connect};

#[derive(Args)]
pub struct DataKeyArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    keys: DataKeySettings,
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Seal every stored secret again under HELPDESK_DATA_KEY, in one transaction, so the keys
    /// in HELPDESK_DATA_KEY_PREVIOUS can then be removed.
    Rewrap {
        /// Give endpoints whose secret no configured key opens (the key was lost) a new secret
        /// and disable them, instead of stopping with nothing changed. An administrator then
        /// rotates each one's secret, hands it to the receiver, and enables it again.
        #[arg(long, env = "HELPDESK_REPLACE_UNREADABLE")]
        replace_unreadable: bool,
    },
}

pub async fn run(args: DataKeyArgs) -> CommandResult {
    let keyring = api::startup::build_keyring(&args.keys, &args.database.database_url)?;
    let db = connect(&args.database).await?;
    let pending = api::startup::pending_migrations(&db).await?;
    if !pending.is_empty() {
        return Err(format!(
            "{} migration(s) pending: run `helpdesk migrate up` first",
            pending.len()
        )
        .into());
    }
    match args.action {
        Action::Rewrap { replace_unreadable } => {
            let report = service::webhook::secret::rewrap(&db, &keyring, replace_unreadable).await;
            let report = match report {
                Ok(report) => report,
                Err(service::Error::Crypto(err)) => {
                    return Err(format!(
                        "nothing changed: a webhook signing secret or an attachment's file key \
                         cannot be opened: {err} (add the key to HELPDESK_DATA_KEY_PREVIOUS; \
                         --replace-unreadable replaces webhook secrets only)"
                    )
                    .into());
                }
                Err(err) => return Err(err.into()),
            };
            out!(
                "sealed the secrets of {} webhook endpoint(s) again under data key {}",
                report.endpoints,
                keyring.current_id()
            );
            out!(
                "sealed the keys of {} attachment(s) again (their files stay as they are)",
                report.files
            );
            if report.replaced > 0 {
                out!(
                    "replaced the unreadable secrets of {} endpoint(s) and disabled them: \
                     rotate their secrets and enable them again",
                    report.replaced
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
