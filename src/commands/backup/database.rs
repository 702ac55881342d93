//! The database half of a backup: a dump taken at one point in time with the digest of every
//! table at that point, and loading such a dump into another database.
//!
//! PostgreSQL: `pg_dump` (custom format) runs in a snapshot exported by a read-only
//! REPEATABLE READ transaction, and the digests and the attachment list are read in that same
//! transaction, so all three describe the same moment. SQLite: `VACUUM INTO` writes a
//! consistent copy, and everything else is read from the copy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use futures_util::StreamExt;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, IsolationLevel, Statement,
    StreamTrait, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use service::db::Backend;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The rows of a table and a digest of their content, independent of their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    pub rows: u64,
    pub sha256: String,
}

/// An attachment row of the snapshot: where its object is, and whether it must be there.
pub struct AttachmentRow {
    pub storage_key: String,
    /// Stored or attached and not deleted: its object belongs in the backup.
    pub complete: bool,
}

/// What a dump holds, read at the moment it was taken.
pub struct Snapshot {
    pub file: PathBuf,
    pub migrations: Vec<String>,
    pub tables: BTreeMap<String, TableDigest>,
    pub attachments: Vec<AttachmentRow>,
    pub server_version: Option<String>,
}

/// The file name of the database part of a backup.
pub fn part_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "database.sqlite",
        Backend::Postgres => "database.pgdump",
    }
}

/// The SQLite file a `sqlite://` URL names.
pub fn sqlite_path(url: &str) -> Result<PathBuf, Error> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or_default())
        .filter(|path| !path.is_empty() && *path != ":memory:")
        .ok_or("a backup needs a database file, not an in-memory database")?;
    Ok(PathBuf::from(path))
}

/// Dumps the database into `dir` and reads the snapshot's digests and attachments.
pub async fn dump(
    db: &DatabaseConnection,
    url: &str,
    pg_bin_dir: Option<&Path>,
    dir: &Path,
) -> Result<Snapshot, Error> {
    let backend = Backend::of(db);
    let file = dir.join(part_name(backend));
    match backend {
        Backend::Sqlite => {
            let target = file.to_string_lossy().replace('\'', "''");
            db.execute_unprepared(&format!("VACUUM INTO '{target}'"))
                .await?;
            let copy = open_sqlite(&file).await?;
            let snapshot = Snapshot {
                migrations: migrations(&copy).await?,
                tables: digests(&copy).await?,
                attachments: attachments(&copy).await?,
                server_version: None,
                file,
            };
            copy.close().await?;
            Ok(snapshot)
        }
        Backend::Postgres => {
            let server = server_major(db).await?;
            let pg_dump = tool(pg_bin_dir, "pg_dump");
            check_tool_version(&pg_dump, server).await?;
            let txn = db
                .begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await?;
            let row = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_export_snapshot() AS snapshot",
                ))
                .await?
                .ok_or("pg_export_snapshot returned nothing")?;
            let snapshot_id: String = row.try_get("", "snapshot")?;
            let (conn_url, password) = without_password(url)?;
            let mut command = tokio::process::Command::new(&pg_dump);
            command
                .arg("--format=custom")
                .arg(format!("--snapshot={snapshot_id}"))
                .arg("--no-owner")
                .arg("--no-privileges")
                .arg(format!("--file={}", file.display()))
                .arg(format!("--dbname={conn_url}"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if let Some(password) = password {
                command.env("PGPASSWORD", password);
            }
            let child = command
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", pg_dump.display()))?;
            // Read in the same snapshot while pg_dump writes it out.
            let read = async {
                Ok::<_, Error>((
                    migrations(&txn).await?,
                    digests(&txn).await?,
                    attachments(&txn).await?,
                ))
            };
            let (read, dumped) = tokio::join!(read, child.wait_with_output());
            let dumped = dumped?;
            txn.rollback().await?;
            if !dumped.status.success() {
                return Err(format!(
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&dumped.stderr).trim()
                )
                .into());
            }
            let (migrations, tables, attachments) = read?;
            Ok(Snapshot {
                file,
                migrations,
                tables,
                attachments,
                server_version: Some(server.to_string()),
            })
        }
    }
}

/// Opens a SQLite file of a backup (one connection: it is read by one task).
pub async fn open_sqlite(file: &Path) -> Result<DatabaseConnection, Error> {
    Ok(service::db::connect(
        &format!("sqlite://{}", file.display()),
        service::db::DbOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await?)
}

/// The applied migrations, oldest first.
pub async fn migrations(db: &impl ConnectionTrait) -> Result<Vec<String>, Error> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<_, _>>()?)
}

async fn attachments(db: &impl ConnectionTrait) -> Result<Vec<AttachmentRow>, Error> {
    // A database from before attachments has none.
    if !tables(db).await?.iter().any(|t| t == "attachments") {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT storage_key, state, deleted_at IS NULL AS live FROM attachments ORDER BY storage_key",
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let state: String = row.try_get("", "state")?;
            let live: bool = row.try_get("", "live")?;
            Ok(AttachmentRow {
                storage_key: row.try_get("", "storage_key")?,
                complete: live && matches!(state.as_str(), "stored" | "attached"),
            })
        })
        .collect()
}

/// The tables of the database (SQLite's own bookkeeping excluded).
pub async fn tables(db: &impl ConnectionTrait) -> Result<Vec<String>, Error> {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get::<String>("", "name"))
        .collect::<Result<_, _>>()?)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every table's row count and content digest: the SHA-256 of the sorted SHA-256s of its
/// rows' text, so the order rows come back in does not matter.
pub async fn digests<C>(db: &C) -> Result<BTreeMap<String, TableDigest>, Error>
where
    C: ConnectionTrait + StreamTrait,
{
    let backend = ConnectionTrait::get_database_backend(db);
    let mut out = BTreeMap::new();
    for table in tables(db).await? {
        let select = match backend {
            DbBackend::Postgres => format!("SELECT t::text AS row FROM {} AS t", quoted(&table)),
            _ => {
                let columns = db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!(
                            "SELECT name FROM pragma_table_info('{}')",
                            table.replace('\'', "''")
                        ),
                    ))
                    .await?;
                let parts: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        c.try_get::<String>("", "name")
                            .map(|n| format!("quote({})", quoted(&n)))
                    })
                    .collect::<Result<_, _>>()?;
                if parts.is_empty() {
                    continue;
                }
                format!(
                    "SELECT {} AS row FROM {}",
                    parts.join(" || '|' || "),
                    quoted(&table)
                )
            }
        };
        let mut rows: Vec<[u8; 32]> = Vec::new();
        {
            // The stream holds the connection: it ends before the next table's query.
            let stream = db
                .stream_raw(Statement::from_string(backend, select))
                .await?;
            let mut stream = std::pin::pin!(stream);
            while let Some(row) = stream.next().await {
                let text: String = row?.try_get("", "row")?;
                rows.push(Sha256::digest(text.as_bytes()).into());
            }
        }
        rows.sort_unstable();
        let mut hasher = Sha256::new();
        for row in &rows {
            hasher.update(row);
        }
        out.insert(
            table,
            TableDigest {
                rows: rows.len() as u64,
                sha256: hex(&hasher.finalize()),
            },
        );
    }
    Ok(out)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the database holds no tables at all.
pub async fn is_empty(db: &impl ConnectionTrait) -> Result<bool, Error> {
    Ok(tables(db).await?.is_empty())
}

/// Loads a dump into the database at `url`, which must be empty. SQLite: the file takes the
/// database's place (no connection may be open to it). PostgreSQL: `pg_restore` in one
/// transaction, so a failure leaves the database as it was.
pub async fn load(
    backend: Backend,
    file: &Path,
    url: &str,
    pg_bin_dir: Option<&Path>,
    replace: bool,
) -> Result<(), Error> {
    match backend {
        Backend::Sqlite => {
            use std::os::unix::fs::PermissionsExt;
            let target = sqlite_path(url)?;
            if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let staging = PathBuf::from(format!("{}.restoring", target.display()));
            std::fs::copy(file, &staging)?;
            std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o600))?;
            std::fs::File::open(&staging)?.sync_all()?;
            if target.exists() {
                // Everything of the old database into its main file first: its write-ahead
                // log must not outlive it next to the new one.
                let old = open_sqlite(&target).await?;
                old.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                    .await?;
                old.close().await?;
            }
            for suffix in ["-wal", "-shm", "-journal"] {
                let side = PathBuf::from(format!("{}{suffix}", target.display()));
                if side.exists() {
                    std::fs::remove_file(&side)?;
                }
            }
            // The swap is one rename: the old database or the new one, never neither.
            std::fs::rename(&staging, &target)?;
            Ok(())
        }
        Backend::Postgres => {
            let db = service::db::connect(url, Default::default()).await?;
            let server = server_major(&db).await?;
            let schema = if replace {
                let row = db
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT current_schema() AS name",
                    ))
                    .await?
                    .ok_or("no current schema")?;
                Some(quoted(&row.try_get::<String>("", "name")?))
            } else {
                None
            };
            db.close().await?;
            let pg_restore = tool(pg_bin_dir, "pg_restore");
            check_tool_version(&pg_restore, server).await?;
            let (conn_url, password) = without_password(url)?;
            let failed = |what: &str, stderr: &[u8]| -> Error {
                format!(
                    "{what} failed (nothing was restored or changed): {}",
                    String::from_utf8_lossy(stderr).trim()
                )
                .into()
            };
            let Some(schema) = schema else {
                // Into an empty database: pg_restore in one transaction.
                let mut command = tokio::process::Command::new(&pg_restore);
                command
                    .args(["--no-owner", "--no-privileges", "--single-transaction"])
                    .arg("--exit-on-error")
                    .arg(format!("--dbname={conn_url}"))
                    .arg(file)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .kill_on_drop(true);
                if let Some(password) = &password {
                    command.env("PGPASSWORD", password);
                }
                let output = command
                    .output()
                    .await
                    .map_err(|e| format!("cannot run {}: {e}", pg_restore.display()))?;
                if !output.status.success() {
                    return Err(failed("pg_restore", &output.stderr));
                }
                return Ok(());
            };
            // In place of everything: the schema dropped, made again and filled in one
            // transaction of psql, which runs the script pg_restore writes.
            let psql = tool(pg_bin_dir, "psql");
            let mut script = tokio::process::Command::new(&pg_restore);
            script
                .args(["--no-owner", "--no-privileges", "--file=-"])
                .arg(file)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let mut script = script
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", pg_restore.display()))?;
            let mut runner = tokio::process::Command::new(&psql);
            runner
                .args(["--no-psqlrc", "--quiet", "--single-transaction"])
                .args(["--set=ON_ERROR_STOP=1", "--file=-"])
                .arg(format!("--dbname={conn_url}"))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if let Some(password) = &password {
                runner.env("PGPASSWORD", password);
            }
            let mut runner = runner
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", psql.display()))?;
            let mut input = runner.stdin.take().ok_or("psql has no stdin")?;
            let mut output = script.stdout.take().ok_or("pg_restore has no stdout")?;
            let feed = async {
                use tokio::io::AsyncWriteExt;
                input
                    .write_all(
                        format!("DROP SCHEMA {schema} CASCADE;\nCREATE SCHEMA {schema};\n")
                            .as_bytes(),
                    )
                    .await?;
                tokio::io::copy(&mut output, &mut input).await?;
                input.shutdown().await?;
                drop(input);
                Ok::<_, std::io::Error>(())
            };
            let (fed, written, ran) =
                tokio::join!(feed, script.wait_with_output(), runner.wait_with_output());
            let (written, ran) = (written?, ran?);
            if !written.status.success() {
                return Err(failed("pg_restore", &written.stderr));
            }
            if !ran.status.success() {
                return Err(failed("psql", &ran.stderr));
            }
            fed?;
            Ok(())
        }
    }
}

/// The PostgreSQL server's major version.
pub async fn server_major(db: &impl ConnectionTrait) -> Result<u32, Error> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('server_version_num') AS version",
        ))
        .await?
        .ok_or("no server version")?;
    let number: String = row.try_get("", "version")?;
    Ok(number.parse::<u32>()? / 10000)
}

fn tool(bin_dir: Option<&Path>, name: &str) -> PathBuf {
    match bin_dir {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}

/// A client tool older than the server cannot read or write its dumps safely.
async fn check_tool_version(tool: &Path, server: u32) -> Result<(), Error> {
    let output = tokio::process::Command::new(tool)
        .arg("--version")
        .output()
        .await
        .map_err(|e| {
            format!(
                "{} is needed for PostgreSQL backups ({e}); install PostgreSQL's client programs \
                 (Debian: postgresql-client) or point --pg-bin-dir at them",
                tool.display()
            )
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    let major = tool_major(&text)
        .ok_or_else(|| format!("cannot read the version of {}: {text}", tool.display()))?;
    if major < server {
        return Err(format!(
            "{} is version {major}, older than the PostgreSQL {server} server; install the \
             client programs of version {server} or newer (or point --pg-bin-dir at them)",
            tool.display()
        )
        .into());
    }
    Ok(())
}

/// `pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)` -> 15.
fn tool_major(text: &str) -> Option<u32> {
    text.split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// The URL without its password (for a child's argv, which others can read), and the
/// password (for its environment).
fn without_password(url: &str) -> Result<(String, Option<String>), Error> {
    let mut parsed = url::Url::parse(url)?;
    let mut password = parsed.password().map(percent_decode);
    if password.is_some() {
        let _ = parsed.set_password(None);
    }
    // libpq also takes `?password=`: it goes to the environment too.
    let mut kept: Vec<(String, String)> = Vec::new();
    for (key, value) in parsed.query_pairs() {
        if key.eq_ignore_ascii_case("password") {
            password = Some(value.into_owned());
        } else {
            kept.push((key.into_owned(), value.into_owned()));
        }
    }
    if parsed.query().is_some() {
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Ok((parsed.to_string(), password))
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("p={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_versions_are_read() {
        assert_eq!(
            tool_major("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(tool_major("pg_restore (PostgreSQL) 17.2"), Some(17));
        assert_eq!(tool_major("nothing"), None);
    }

    #[test]
    fn the_password_leaves_the_url() {
        let (url, password) =
            without_password("postgres://ann:s%40cret+x@db:5432/helpdesk").unwrap();
        assert_eq!(url, "postgres://ann@db:5432/helpdesk");
        assert_eq!(password.as_deref(), Some("s@cret+x"));
        let (url, password) = without_password("postgres://ann@db/helpdesk").unwrap();
        assert_eq!(url, "postgres://ann@db/helpdesk");
        assert_eq!(password, None);
        let (url, password) =
            without_password("postgres://ann@db/helpdesk?sslmode=require&password=x%26y").unwrap();
        assert_eq!(url, "postgres://ann@db/helpdesk?sslmode=require");
        assert_eq!(password.as_deref(), Some("x&y"));
    }
}
