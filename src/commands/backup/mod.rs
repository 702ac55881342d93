//! `helpdesk backup create|verify|list|prune` and `helpdesk restore`.

pub mod archive;
pub mod database;
pub mod restore;
pub mod retention;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use api::config::{DatabaseSettings, StorageSettings};
use chrono::Utc;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::{CommandResult, connect};
use archive::Manifest;

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    action: Action,
}

/// Where PostgreSQL's client programs are.
#[derive(Args, Clone, Debug)]
pub struct PgTools {
    /// Directory of `pg_dump` and `pg_restore` (default: the PATH); they must be at least as
    /// new as the PostgreSQL server.
    #[arg(long, env = "HELPDESK_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Action {
    /// Back up the database and the attachments while the server runs: one compressed file
    /// holding a consistent dump, every attachment as stored (encrypted) and a manifest
    /// (schema version, row counts, SHA-256 of every part). The data key is not in it: keep
    /// it separately.
    Create {
        /// Directory the backup file is written to.
        #[arg(long, short, env = "HELPDESK_BACKUP_DIR", default_value = "backups")]
        output: PathBuf,
        #[command(flatten)]
        storage: StorageSettings,
        #[command(flatten)]
        tools: PgTools,
    },
    /// Check a backup: every part against its checksum, then a trial restore into a scratch
    /// database (a new SQLite file, or a new database on the PostgreSQL server DATABASE_URL
    /// names) whose every table must match the manifest.
    Verify {
        path: PathBuf,
        /// Check the checksums only, without the trial restore.
        #[arg(long)]
        checksums_only: bool,
        #[command(flatten)]
        tools: PgTools,
    },
    /// List the backups in a directory, oldest first.
    List {
        #[arg(env = "HELPDESK_BACKUP_DIR", default_value = "backups")]
        dir: PathBuf,
    },
    /// Delete the backups no retention rule keeps: the newest of each of the last N days,
    /// ISO weeks and months that have one.
    Prune {
        #[arg(env = "HELPDESK_BACKUP_DIR", default_value = "backups")]
        dir: PathBuf,
        #[arg(long, default_value_t = 7)]
        keep_daily: usize,
        #[arg(long, default_value_t = 4)]
        keep_weekly: usize,
        #[arg(long, default_value_t = 12)]
        keep_monthly: usize,
        /// Print what would be deleted, and delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(args: BackupArgs) -> CommandResult {
    match args.action {
        Action::Create {
            output,
            storage,
            tools,
        } => create(&args.database, &storage, &tools, &output).await,
        Action::Verify {
            path,
            checksums_only,
            tools,
        } => verify(&args.database, &tools, &path, checksums_only).await,
        Action::List { dir } => list(&dir),
        Action::Prune {
            dir,
            keep_daily,
            keep_weekly,
            keep_monthly,
            dry_run,
        } => prune(
            &dir,
            retention::Keep {
                daily: keep_daily,
                weekly: keep_weekly,
                monthly: keep_monthly,
            },
            dry_run,
        ),
    }
}

pub fn bar(len: u64, what: &str) -> Result<ProgressBar, Box<dyn std::error::Error + Send + Sync>> {
    Ok(
        ProgressBar::new(len).with_style(ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what}  {{per_sec}}  eta {{eta}}"
        ))?),
    )
}

async fn create(
    settings: &DatabaseSettings,
    storage: &StorageSettings,
    tools: &PgTools,
    output: &Path,
) -> CommandResult {
    let url = &settings.database_url;
    let db = connect(settings).await?;
    let store = storage.open(url)?;
    let scratch = tempfile::tempdir()?;
    let started = Utc::now();
    let snapshot = database::dump(&db, url, tools.pg_bin_dir.as_deref(), scratch.path()).await?;
    db.close().await?;
    let backend = service::db::backend_of(url)?;
    let mut writer = archive::Writer::create(output, started)?;
    writer.add_file(database::part_name(backend), &snapshot.file)?;
    let complete: Vec<&database::AttachmentRow> =
        snapshot.attachments.iter().filter(|a| a.complete).collect();
    let progress = bar(complete.len() as u64, "attachments")?;
    for row in &complete {
        let bytes = store.read_raw(&row.storage_key).await.map_err(|e| {
            format!(
                "attachment object {} cannot be read from {} ({e}); `helpdesk health` compares \
                 storage with the table",
                row.storage_key,
                store.describe()
            )
        })?;
        writer.add_bytes(&row.storage_key, &bytes)?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    let manifest = Manifest {
        format: archive::FORMAT,
        created_at: started,
        helpdesk_version: env!("CARGO_PKG_VERSION").to_string(),
        database: backend.name().to_string(),
        server_version: snapshot.server_version,
        schema_version: snapshot.migrations.last().cloned(),
        migrations: snapshot.migrations,
        tables: snapshot.tables,
        attachments: complete.len() as u64,
        parts: writer.parts().clone(),
    };
    let path = writer.finish(&manifest)?;
    let size = std::fs::metadata(&path)?.len();
    out!(
        "backup written: {} ({} bytes; {} tables, {} rows, {} attachment(s); schema {})",
        path.display(),
        size,
        manifest.tables.len(),
        manifest.rows(),
        manifest.attachments,
        manifest.schema_version.as_deref().unwrap_or("empty"),
    );
    Ok(ExitCode::SUCCESS)
}

async fn verify(
    settings: &DatabaseSettings,
    tools: &PgTools,
    path: &Path,
    checksums_only: bool,
) -> CommandResult {
    let scratch = tempfile::tempdir()?;
    let manifest = match archive::extract(path, scratch.path()) {
        Ok(manifest) => manifest,
        Err(err) => {
            out!("checksums: error ({err})");
            return Ok(ExitCode::FAILURE);
        }
    };
    out!(
        "checksums: ok ({} parts, {} attachment(s))",
        manifest.parts.len(),
        manifest.attachments
    );
    if checksums_only {
        return Ok(ExitCode::SUCCESS);
    }
    match trial_restore(settings, tools, &manifest, scratch.path()).await {
        Ok(()) => {
            out!(
                "trial restore: ok ({} tables, {} rows, each identical to the manifest)",
                manifest.tables.len(),
                manifest.rows()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            out!("trial restore: error ({err})");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Restores the unpacked backup in `dir` into a scratch database and compares every table.
async fn trial_restore(
    settings: &DatabaseSettings,
    tools: &PgTools,
    manifest: &Manifest,
    dir: &Path,
) -> Result<(), database::Error> {
    use sea_orm::ConnectionTrait;
    let backend = backend_named(&manifest.database)?;
    let file = dir.join(database::part_name(backend));
    match backend {
        service::db::Backend::Sqlite => {
            let db = database::open_sqlite(&file).await?;
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    "PRAGMA integrity_check",
                ))
                .await?
                .ok_or("integrity_check returned nothing")?;
            let verdict: String = row.try_get_by_index(0)?;
            if verdict != "ok" {
                return Err(format!("integrity check: {verdict}").into());
            }
            let digests = database::digests(&db).await?;
            db.close().await?;
            same_tables(manifest, &digests)
        }
        service::db::Backend::Postgres => {
            let url = &settings.database_url;
            if service::db::backend_of(url)? != service::db::Backend::Postgres {
                return Err(
                    "a PostgreSQL backup is restored for the trial into a scratch \
                            database on the server DATABASE_URL names; set it (or pass \
                            --checksums-only)"
                        .into(),
                );
            }
            let name = format!("helpdesk_verify_{}", uuid::Uuid::new_v4().simple());
            let admin = connect(settings).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await?;
            let mut scratch_url = url::Url::parse(url)?;
            scratch_url.set_path(&format!("/{name}"));
            let result = async {
                database::load(
                    backend,
                    &file,
                    scratch_url.as_str(),
                    tools.pg_bin_dir.as_deref(),
                    false,
                )
                .await?;
                let db = service::db::connect(scratch_url.as_str(), Default::default()).await?;
                let digests = database::digests(&db).await?;
                db.close().await?;
                same_tables(manifest, &digests)
            }
            .await;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
            admin.close().await?;
            result
        }
    }
}

pub fn backend_named(name: &str) -> Result<service::db::Backend, database::Error> {
    match name {
        "sqlite" => Ok(service::db::Backend::Sqlite),
        "postgres" => Ok(service::db::Backend::Postgres),
        other => Err(format!("a backup of an unknown database `{other}`").into()),
    }
}

/// Every table of the manifest, and no other, with its rows and digest.
pub fn same_tables(
    manifest: &Manifest,
    found: &std::collections::BTreeMap<String, database::TableDigest>,
) -> Result<(), database::Error> {
    for (table, expected) in &manifest.tables {
        match found.get(table) {
            None => return Err(format!("table {table} is missing").into()),
            Some(got) if got != expected => {
                return Err(format!(
                    "table {table} differs ({} rows, digest {}; the manifest has {} rows, {})",
                    got.rows, got.sha256, expected.rows, expected.sha256
                )
                .into());
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|t| !manifest.tables.contains_key(*t)) {
        return Err(format!("table {extra} is not in the manifest").into());
    }
    Ok(())
}

fn list(dir: &Path) -> CommandResult {
    let backups = archive::backups_in(dir)?;
    let mut healthy = true;
    for (path, _) in &backups {
        let size = std::fs::metadata(path)?.len();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        match archive::read_manifest(path) {
            Ok(m) => out!(
                "{name}  {size} bytes  {}  schema {}  {} rows  {} attachment(s)",
                m.database,
                m.schema_version.as_deref().unwrap_or("empty"),
                m.rows(),
                m.attachments
            ),
            Err(err) => {
                healthy = false;
                out!("{name}  {size} bytes  unreadable ({err})");
            }
        }
    }
    out!("{} backup(s) in {}", backups.len(), dir.display());
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn prune(dir: &Path, keep: retention::Keep, dry_run: bool) -> CommandResult {
    let backups = archive::backups_in(dir)?;
    let times: Vec<_> = backups.iter().map(|(_, at)| *at).collect();
    let kept = retention::kept(&times, keep);
    let mut removed = 0;
    for (index, (path, _)) in backups.iter().enumerate() {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if kept.contains(&index) {
            out!("keep    {name}");
        } else {
            if !dry_run {
                std::fs::remove_file(path)?;
            }
            removed += 1;
            out!(
                "{} {name}",
                if dry_run { "would delete" } else { "delete  " }
            );
        }
    }
    out!(
        "{} kept, {removed} {}",
        kept.len(),
        if dry_run {
            "would be deleted (dry run)"
        } else {
            "deleted"
        }
    );
    Ok(ExitCode::SUCCESS)
}
