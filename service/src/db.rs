//! Opening the database: SQLite (the embedded default) or PostgreSQL, chosen by the URL.
//!
//! Every statement goes through SeaORM's metric callback, which counts it (for `/metrics`) and
//! logs it at WARN when it is slower than the configured threshold.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

/// Called once for every SQL statement the connection runs.
pub type StatementHook = Arc<dyn Fn(&sea_orm::metric::Info<'_>) + Send + Sync>;

#[derive(Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    /// Statements slower than this are logged at WARN with their duration.
    pub slow_statement: Duration,
    /// Extra per-statement hook, e.g. a metrics counter.
    pub on_statement: Option<StatementHook>,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            slow_statement: Duration::from_millis(100),
            on_statement: None,
        }
    }
}

/// Why the database could not be opened. The message names the host (or file) and never the
/// password, so it is safe to print as the one line a failed start shows.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL is not a valid database URL ({url}): {reason}")]
    Malformed { url: String, reason: String },
    #[error("cannot connect to the database at {target} ({url}): {reason}")]
    Unreachable {
        target: String,
        url: String,
        reason: String,
    },
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    pub fn of(db: &impl ConnectionTrait) -> Self {
        match db.get_database_backend() {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

/// Query parameters that carry secrets (libpq and sqlx accept a password in the query string).
const SECRET_PARAMS: &[&str] = &["password", "sslpassword", "sslkey_password"];

/// A database URL with its password replaced by `***`, for messages and logs: in the user
/// part and in the query string alike.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // set_password only fails for URLs that cannot carry credentials, which had none.
                let _ = parsed.set_password(Some("***"));
            }
            let has_secret = parsed
                .query_pairs()
                .any(|(key, _)| SECRET_PARAMS.contains(&key.to_ascii_lowercase().as_str()));
            if has_secret {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(key, value)| {
                        let secret = SECRET_PARAMS.contains(&key.to_ascii_lowercase().as_str());
                        (
                            key.into_owned(),
                            if secret {
                                "***".into()
                            } else {
                                value.into_owned()
                            },
                        )
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Unparseable: keep only what cannot hold a secret, the scheme and what follows '@'
        // up to the query string.
        Err(_) => {
            let without_query = url.split('?').next().unwrap_or_default();
            match without_query.rfind('@') {
                Some(at) => match without_query[..at].find("://") {
                    Some(scheme_end) => {
                        format!("{}://***{}", &url[..scheme_end], &without_query[at..])
                    }
                    None => format!("***{}", &without_query[at..]),
                },
                None if url.contains('?') => format!("{without_query}?***"),
                None => url.to_string(),
            }
        }
    }
}

/// The backend a URL selects, or why it is not a database URL we serve.
pub fn backend_of(url: &str) -> Result<Backend, ConnectError> {
    let malformed = |reason: &str| ConnectError::Malformed {
        url: redact(url),
        reason: reason.to_string(),
    };
    let scheme = url
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .ok_or_else(|| malformed("expected sqlite://FILE or postgres://USER@HOST/DB"))?;
    match scheme {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => {
            let parsed = url::Url::parse(url).map_err(|e| malformed(&e.to_string()))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(malformed("no host given"));
            }
            Ok(Backend::Postgres)
        }
        _ => Err(malformed(&format!(
            "unsupported scheme `{scheme}` (use sqlite:// or postgres://)"
        ))),
    }
}

/// Where a URL points, for humans: `host:port` for PostgreSQL, the file for SQLite.
pub fn target_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme().starts_with("postgres") => {
            let host = parsed.host_str().unwrap_or("localhost");
            match parsed.port() {
                Some(port) => format!("{host}:{port}"),
                None => format!("{host}:5432"),
            }
        }
        _ => url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Opens a pool to `url` and checks that the database answers.
pub async fn connect(url: &str, options: DbOptions) -> Result<DatabaseConnection, ConnectError> {
    let backend = backend_of(url)?;
    let mut connect = ConnectOptions::new(url.to_string());
    connect
        .max_connections(options.max_connections)
        .min_connections(1)
        .connect_timeout(options.connect_timeout)
        .acquire_timeout(options.connect_timeout.max(Duration::from_secs(30)))
        // A connection handed out is pinged only after it has been idle a while (one lost to a
        // restart or a firewall shows then); pinging at every checkout added a round trip to
        // every statement.
        .test_before_acquire_if_idle_for(Duration::from_secs(10))
        // sqlx would log every statement at INFO; statements are counted and slow ones logged
        // by the metric callback below instead.
        .sqlx_logging(false)
        // Every acquired connection is reported as a TRACE event (`sqlx::pool::acquire`), for
        // the count of tasks waiting for one (api's telemetry); nothing is written unless a
        // subscriber asks for the target.
        .map_sqlx_postgres_pool_opts(|pool| pool.acquire_time_level(log::LevelFilter::Trace))
        .map_sqlx_sqlite_pool_opts(|pool| pool.acquire_time_level(log::LevelFilter::Trace));
    if backend == Backend::Sqlite {
        connect.map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                // WAL lets readers work while one writer commits; NORMAL sync is durable in
                // WAL mode except for the last transactions on power loss.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Writers queue for the lock instead of failing at once.
                .busy_timeout(Duration::from_secs(30))
        });
    }

    let unreachable = |err: DbErr| ConnectError::Unreachable {
        target: target_of(url),
        url: redact(url),
        reason: scrub(&reason(&err), url),
    };
    if backend == Backend::Postgres {
        // One direct attempt first: the pool retries a refused connection until its acquire
        // timeout, while a wrong host or port should fail at once with the driver's reason.
        probe_postgres(url, options.connect_timeout)
            .await
            .map_err(|reason| ConnectError::Unreachable {
                target: target_of(url),
                url: redact(url),
                reason: scrub(&reason, url),
            })?;
    }
    let mut db = Database::connect(connect).await.map_err(unreachable)?;
    db.ping().await.map_err(unreachable)?;

    install_hook(
        &mut db,
        options.slow_statement,
        options.on_statement.clone(),
    );
    Ok(db)
}

/// The newest migration applied to the database (one statement).
pub async fn schema_version(db: &impl ConnectionTrait) -> crate::Result<Option<String>> {
    use sea_orm::sea_query::{Alias, Order, Query};
    let newest = Query::select()
        .column(Alias::new("version"))
        .from(Alias::new("seaql_migrations"))
        .order_by(Alias::new("version"), Order::Desc)
        .limit(1)
        .to_owned();
    match db.query_one(&newest).await? {
        Some(row) => Ok(Some(row.try_get("", "version")?)),
        None => Ok(None),
    }
}

async fn probe_postgres(url: &str, timeout: Duration) -> Result<(), String> {
    use sea_orm::sqlx::{Connection, PgConnection};
    match tokio::time::timeout(timeout, PgConnection::connect(url)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Begins a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later fails with
/// SQLITE_BUSY when another writer committed in between, where this one simply waits its turn.
pub async fn begin_write<C: sea_orm::TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Takes the transaction-scoped PostgreSQL advisory lock `key` if it is free: a job that
/// must run once at a time across replicas checks this first, and leaves the round to the
/// holder when it is `false`. On SQLite the write transaction already runs alone: `true`.
pub async fn try_job_lock(txn: &impl ConnectionTrait, key: i64) -> Result<bool, DbErr> {
    if txn.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(true);
    }
    let row = txn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!("SELECT pg_try_advisory_xact_lock({key}) AS locked"),
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "locked"))
        .transpose()?
        .unwrap_or(false))
}

/// Counts (through `hook`) and times every statement of `db`, logging the slow ones.
fn install_hook(db: &mut DatabaseConnection, slow: Duration, hook: Option<StatementHook>) {
    db.set_metric_callback(move |info| {
        if let Some(hook) = &hook {
            hook(info);
        }
        if info.elapsed >= slow {
            tracing::warn!(
                duration_ms = info.elapsed.as_millis() as u64,
                failed = info.failed,
                sql = %info.statement.sql,
                "slow SQL statement"
            );
        }
    });
}

/// How a pool's connections are used right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Connections open (busy and idle).
    pub open: u32,
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

impl PoolUsage {
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// The usage of the pool behind `db`.
pub fn pool_usage(db: &DatabaseConnection) -> PoolUsage {
    fn of<D: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<D>) -> PoolUsage {
        PoolUsage {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
    match db.get_database_backend() {
        DbBackend::Postgres => of(db.get_postgres_connection_pool()),
        _ => of(db.get_sqlite_connection_pool()),
    }
}

/// A handle on the same pool whose statements go to another hook: background work (the
/// event relay) is counted apart from the statements requests cost.
pub fn with_hook(
    db: &DatabaseConnection,
    slow: Duration,
    hook: StatementHook,
) -> DatabaseConnection {
    let mut other = db.clone();
    install_hook(&mut other, slow, Some(hook));
    other
}

/// The driver's own words, without SeaORM's wrapping.
fn reason(err: &DbErr) -> String {
    match err {
        DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)) => e.to_string(),
        DbErr::Conn(sea_orm::RuntimeErr::Internal(e)) => e.clone(),
        other => other.to_string(),
    }
}

/// Removes the URL's secrets from a message, should a driver ever echo them.
fn scrub(message: &str, url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return message.to_string();
    };
    let mut secrets: Vec<String> = parsed.password().map(str::to_string).into_iter().collect();
    secrets.extend(
        parsed
            .query_pairs()
            .filter(|(key, _)| SECRET_PARAMS.contains(&key.to_ascii_lowercase().as_str()))
            .map(|(_, value)| value.into_owned()),
    );
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(message.to_string(), |text, secret| {
            text.replace(secret.as_str(), "***")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_and_keeps_the_host() {
        let redacted = redact("postgres://u:secret@127.0.0.1:1/x");
        assert!(!redacted.contains("secret"), "{redacted}");
        assert!(redacted.contains("127.0.0.1:1"), "{redacted}");
        let unparsable = redact("postgres://u:secret@[bad/x");
        assert!(!unparsable.contains("secret"), "{unparsable}");
        for url in [
            "postgres://u@127.0.0.1:1/x?password=secret",
            "postgres://u@127.0.0.1:1/x?sslmode=require&PASSWORD=secret",
            "postgres://u@[bad/x?password=secret",
        ] {
            let redacted = redact(url);
            assert!(!redacted.contains("secret"), "{url} -> {redacted}");
        }
        assert!(redact("postgres://u@h/x?sslmode=require").contains("sslmode=require"));
    }

    #[test]
    fn backend_of_rejects_what_it_cannot_serve() {
        assert_eq!(backend_of("sqlite://a.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgresql://h/db").unwrap(), Backend::Postgres);
        for bad in [
            "mysql://h/db",
            "not a url",
            "postgres:///db",
            "postgres://u:p@[::1/x",
        ] {
            assert!(
                matches!(backend_of(bad), Err(ConnectError::Malformed { .. })),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn target_of_names_host_and_port_or_file() {
        assert_eq!(
            target_of("postgres://u:p@db.internal/x"),
            "db.internal:5432"
        );
        assert_eq!(target_of("postgres://u:p@127.0.0.1:1/x"), "127.0.0.1:1");
        assert_eq!(target_of("sqlite://helpdesk.db?mode=rwc"), "helpdesk.db");
    }
}
