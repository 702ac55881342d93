//! `helpdesk restore PATH`: a backup into an empty database (or, with `--replace`, in place
//! of everything in it), its attachments back into storage, then migrations forward.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use api::config::{DatabaseSettings, StorageSettings};
use clap::Args;
use migration::{Migrator, MigratorTrait};

use super::{PgTools, archive, backend_named, bar, database, same_tables};
use crate::commands::{CommandResult, confirm};

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file (`helpdesk-backup-….tar.gz`).
    path: PathBuf,
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    storage: StorageSettings,
    #[command(flatten)]
    tools: PgTools,
    /// Replace everything in a database that is not empty (asks first unless --yes).
    #[arg(long)]
    replace: bool,
    /// Do not ask for confirmation.
    #[arg(long, env = "HELPDESK_YES")]
    yes: bool,
}

pub async fn run(args: RestoreArgs) -> CommandResult {
    let url = args.database.database_url.clone();
    let target = service::db::redact(&url);
    let scratch = tempfile::tempdir()?;
    let manifest = archive::extract(&args.path, scratch.path())?;

    // Everything that can refuse does so before anything changes.
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let unknown: Vec<&String> = manifest
        .migrations
        .iter()
        .filter(|m| !known.contains(m))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "the backup's schema is newer than this helpdesk knows (it has {}); restore it \
             with helpdesk {} or newer",
            unknown
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            manifest.helpdesk_version
        )
        .into());
    }
    let backend = backend_named(&manifest.database)?;
    if service::db::backend_of(&url)? != backend {
        return Err(format!(
            "this is a {} backup and DATABASE_URL names a {} database; move data between \
             the two with `helpdesk export` and `helpdesk import`",
            backend.name(),
            service::db::backend_of(&url)?.name()
        )
        .into());
    }
    let empty = target_is_empty(&args.database).await?;
    if !empty {
        if !args.replace {
            return Err(format!(
                "{target} is not empty; restore into an empty database, or pass --replace to \
                 replace everything in it"
            )
            .into());
        }
        if !args.yes
            && !confirm(&format!(
                "Replace EVERYTHING in {target} with the backup of {}?",
                manifest
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))
        {
            eprintln!("aborted");
            return Ok(ExitCode::FAILURE);
        }
    }

    let file = scratch.path().join(database::part_name(backend));
    database::load(
        backend,
        &file,
        &url,
        args.tools.pg_bin_dir.as_deref(),
        !empty,
    )
    .await?;
    let db = crate::commands::connect(&args.database).await?;

    let digests = database::digests(&db).await?;
    same_tables(&manifest, &digests).map_err(|e| format!("the restored database differs: {e}"))?;

    let store = args.storage.open(&url)?;
    let objects: Vec<(String, PathBuf)> = manifest
        .parts
        .keys()
        .filter(|name| name.starts_with(service::attachment::STORAGE_PREFIX))
        .map(|name| (name.clone(), scratch.path().join(name)))
        .collect();
    let progress = bar(objects.len() as u64, "attachments")?;
    for (key, path) in &objects {
        store.put_raw(key, read(path)?).await?;
        progress.inc(1);
    }
    progress.finish_and_clear();

    let applied = api::startup::apply_migrations(&db).await?;
    db.close().await?;
    out!(
        "restored the backup of {} into {target}: {} tables, {} rows, {} attachment(s) into {}",
        manifest
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        manifest.tables.len(),
        manifest.rows(),
        objects.len(),
        store.describe()
    );
    if applied.is_empty() {
        out!(
            "schema {} is current",
            manifest.schema_version.as_deref().unwrap_or("empty")
        );
    } else {
        out!(
            "{} migration(s) applied since the backup: {}",
            applied.len(),
            applied.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
}

async fn target_is_empty(settings: &DatabaseSettings) -> Result<bool, database::Error> {
    let url = &settings.database_url;
    if service::db::backend_of(url)? == service::db::Backend::Sqlite
        && !database::sqlite_path(url)?.exists()
    {
        return Ok(true);
    }
    let db = crate::commands::connect(settings).await?;
    let empty = database::is_empty(&db).await?;
    db.close().await?;
    Ok(empty)
}
