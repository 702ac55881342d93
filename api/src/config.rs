//! Settings, read from environment variables, each with a matching command-line flag.
//! This is the only place that reads the environment (through clap); the README's
//! configuration table and `.env.example` list the same variables.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, FromArgMatches, ValueEnum};

use crate::http::client_addr::ProxyNet;

/// Where the data lives.
#[derive(Args, Clone)]
pub struct DatabaseSettings {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://helpdesk.db",
        global = true
    )]
    pub database_url: String,
    /// Connections in the database pool.
    #[arg(
        long,
        env = "HELPDESK_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,
    /// Statements slower than this many milliseconds are logged at WARN.
    #[arg(
        long,
        env = "HELPDESK_SLOW_QUERY_MS",
        default_value_t = 100,
        global = true
    )]
    pub slow_query_ms: u64,
}

impl DatabaseSettings {
    pub fn slow_statement(&self) -> Duration {
        Duration::from_millis(self.slow_query_ms)
    }
}

// The URL may carry a password: never print it.
impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("database_url", &service::db::redact(&self.database_url))
            .field("db_max_connections", &self.db_max_connections)
            .field("slow_query_ms", &self.slow_query_ms)
            .finish()
    }
}

/// The optional Redis server. Checked at start and by `/readyz`; with it, committed events fan
/// out to the subscribers of every replica.
#[derive(Args, Clone)]
pub struct RedisSettings {
    /// Redis URL, e.g. `redis://127.0.0.1:6379`.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    #[arg(
        long,
        env = "HELPDESK_REDIS_PREFIX",
        default_value = "helpdesk",
        global = true
    )]
    pub redis_prefix: String,
}

/// The defaults the `#[arg]` attributes declare, whatever the environment holds: each default
/// is written once, there, and `Default` reads it from clap.
fn defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None));
    let matches = command
        .try_get_matches_from(["defaults"])
        .unwrap_or_else(|e| panic!("a setting without a default: {e}"));
    T::from_arg_matches(&matches).unwrap_or_else(|e| panic!("a default that does not parse: {e}"))
}

impl Default for RedisSettings {
    fn default() -> Self {
        defaults()
    }
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(service::db::redact),
            )
            .field("redis_prefix", &self.redis_prefix)
            .finish()
    }
}

/// The HTTP server.
#[derive(Args, Clone, Debug)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "HELPDESK_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Serve the GraphiQL explorer at `GET /graphql`.
    #[arg(long, env = "HELPDESK_GRAPHIQL", default_value_t = true, action = clap::ArgAction::Set)]
    pub graphiql: bool,
    /// Refuse to start while migrations are pending, instead of applying them.
    #[arg(long, env = "HELPDESK_NO_MIGRATE")]
    pub no_migrate: bool,
    /// After a shutdown signal, seconds to keep serving with `/readyz` at 503, so load
    /// balancers stop sending traffic before the listener closes.
    #[arg(long, env = "HELPDESK_SHUTDOWN_DELAY", default_value_t = 0)]
    pub shutdown_delay_secs: u64,
    /// Seconds in-flight requests get to finish after the listener closes.
    #[arg(long, env = "HELPDESK_SHUTDOWN_TIMEOUT", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
    /// Answer introspection and suggest field names in errors. Default: on for the embedded
    /// default (SQLite), off on PostgreSQL.
    #[arg(long, env = "HELPDESK_INTROSPECTION", action = clap::ArgAction::Set)]
    pub introspection: Option<bool>,
    /// Deepest nesting of fields a query may have.
    #[arg(long, env = "HELPDESK_MAX_QUERY_DEPTH", default_value_t = 15)]
    pub max_query_depth: u64,
    /// Largest query cost, where a list field costs its page size times its selection.
    #[arg(long, env = "HELPDESK_MAX_QUERY_COMPLEXITY", default_value_t = 20_000)]
    pub max_query_complexity: usize,
    /// Most operations in one JSON batch.
    #[arg(long, env = "HELPDESK_MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,
    /// Take the client address for the audit log from `X-Forwarded-For`. Only behind a proxy
    /// that sets it: otherwise clients could write any address they like there.
    #[arg(long, env = "HELPDESK_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Largest response body, in bytes: a query whose answer grows past it is abandoned with
    /// `RESPONSE_TOO_LARGE` while it runs.
    #[arg(long, env = "HELPDESK_MAX_RESPONSE_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// A tracing span per resolved field of every `/graphql` request and subscription event,
    /// besides the one per operation. Costs more CPU than resolving most fields: turn it on to find a slow resolver.
    #[arg(long, env = "HELPDESK_TRACE_FIELDS")]
    pub trace_fields: bool,
    /// Subscription sockets one user may have open at once.
    #[arg(long, env = "HELPDESK_MAX_SOCKETS_PER_USER", default_value_t = 20)]
    pub max_sockets_per_user: usize,
    /// Subscription sockets one client address may have open at once.
    #[arg(long, env = "HELPDESK_MAX_SOCKETS_PER_ADDRESS", default_value_t = 200)]
    pub max_sockets_per_address: usize,
    /// Subscriptions catching up from the event log (`after:`) at once; more wait their turn.
    #[arg(long, env = "HELPDESK_MAX_CONCURRENT_REPLAYS", default_value_t = 8)]
    pub max_concurrent_replays: usize,
    /// Test builds only: the field whose resolver panics.
    #[cfg(feature = "test-hooks")]
    #[arg(skip)]
    pub panic_in_field: Option<String>,
    /// With `--trust-forwarded-for`: the proxies in front of the server, comma-separated
    /// addresses or CIDR networks (`10.0.0.0/8,fd00::/8`). The client is the first
    /// `X-Forwarded-For` entry from the right that is not one of them, and a peer that is not
    /// one of them is the client itself. Unset: one proxy, whose entry (the rightmost) is the
    /// client.
    #[arg(long, env = "HELPDESK_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ProxyNet>,
    /// Serve `/metrics` on this address only (e.g. `0.0.0.0:9090`), not on the main listener.
    /// Unset: `/metrics` is served on the main listener.
    #[arg(long, env = "HELPDESK_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Origins (`https://dashboard.example.com`, comma-separated, exact) whose pages may call
    /// `/graphql` from a browser and open subscriptions; none by default. Pages of this
    /// server's own origin need no entry.
    #[arg(
        long,
        env = "HELPDESK_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = parse_origin
    )]
    pub cors_origins: Vec<String>,
}

/// An origin as browsers send it in `Origin`: `scheme://host[:port]`, nothing after, in lower
/// case. Compared exactly, so a path, a trailing slash or a wildcard would silently match
/// nothing: refuse them instead. An empty entry (`HELPDESK_CORS_ORIGINS=` in a compose file)
/// stands for none and is dropped when the server starts.
fn parse_origin(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let authority = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| format!("`{value}` is not an origin: it starts with http:// or https://"))?;
    let bad = |c: char| matches!(c, '/' | '?' | '#' | '*' | '@') || c.is_whitespace();
    if authority.is_empty() || authority.contains(bad) {
        return Err(format!(
            "`{value}` is not an origin: scheme and host (and port) only, like https://app.example.com"
        ));
    }
    Ok(value.to_ascii_lowercase())
}

impl Default for ServerSettings {
    fn default() -> Self {
        defaults()
    }
}

/// Signing and lifetimes of tokens, and the login lockout.
#[derive(Args, Clone)]
pub struct AuthSettings {
    /// Key that signs access tokens (HS256), at least 32 bytes. Required on PostgreSQL; on the
    /// embedded default a random key is made at each start (tokens then die with the process).
    #[arg(long, env = "HELPDESK_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Access token lifetime in seconds (at most 30 days).
    #[arg(long, env = "HELPDESK_ACCESS_TOKEN_TTL", default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=30 * 24 * 3600))]
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in days (at most 3650).
    #[arg(long, env = "HELPDESK_REFRESH_TOKEN_TTL_DAYS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub refresh_token_ttl_days: u64,
    /// Consecutive failed logins that lock an account.
    #[arg(long, env = "HELPDESK_LOCKOUT_THRESHOLD", default_value_t = 5)]
    pub lockout_threshold: u32,
    /// Minutes an account stays locked after too many failed logins.
    #[arg(long, env = "HELPDESK_LOCKOUT_MINUTES", default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=365 * 24 * 60))]
    pub lockout_minutes: u64,
    /// Days a sign-in lasts at most, however often its refresh token is used; then the user
    /// signs in again.
    #[arg(long, env = "HELPDESK_SESSION_MAX_DAYS", default_value_t = 90,
        value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub session_max_days: u64,
    /// Credential checks (sign-in, password change) per minute for one account, before any
    /// password is hashed; more get `RATE_LIMITED`.
    #[arg(long, env = "HELPDESK_LOGIN_RATE_PER_ACCOUNT", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub login_rate_per_account: u32,
    /// Credential checks (sign-in, refresh, password change) per minute from one client address.
    #[arg(long, env = "HELPDESK_LOGIN_RATE_PER_ADDRESS", default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub login_rate_per_address: u32,
    /// Roles that must sign in with a second factor (comma-separated, e.g. `admin,superagent`):
    /// until they set one up, signing in yields only an enrolment challenge.
    #[arg(long = "require-2fa-roles", env = "HELPDESK_REQUIRE_2FA_ROLES", value_delimiter = ',',
        value_parser = parse_role)]
    pub require_2fa_roles: Vec<entity::enums::Role>,
}

fn parse_role(text: &str) -> Result<entity::enums::Role, String> {
    use entity::enums::Role;
    match text.trim().to_ascii_lowercase().as_str() {
        "admin" => Ok(Role::Admin),
        "superagent" => Ok(Role::Superagent),
        "agent" => Ok(Role::Agent),
        "client" => Ok(Role::Client),
        other => Err(format!(
            "{other:?} is no role (admin, superagent, agent, client)"
        )),
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        defaults()
    }
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_days", &self.refresh_token_ttl_days)
            .field("lockout_threshold", &self.lockout_threshold)
            .field("lockout_minutes", &self.lockout_minutes)
            .field("session_max_days", &self.session_max_days)
            .field("login_rate_per_account", &self.login_rate_per_account)
            .field("login_rate_per_address", &self.login_rate_per_address)
            .field("require_2fa_roles", &self.require_2fa_roles)
            .finish()
    }
}

/// The data key that seals secrets at rest (webhook signing secrets).
#[derive(Args, Clone, Default)]
pub struct DataKeySettings {
    /// Key sealing secrets at rest: base64 of 32 random bytes (`openssl rand -base64 32`).
    /// Required on PostgreSQL; on the embedded default a key file beside the SQLite database
    /// (`<database>.key`) is made once and used.
    #[arg(long, env = "HELPDESK_DATA_KEY", hide_env_values = true)]
    pub data_key: Option<String>,
    /// Earlier data keys, comma-separated base64, that still open what they sealed. Drop one
    /// after `helpdesk data-key rewrap` has sealed everything under the current key.
    #[arg(
        long,
        env = "HELPDESK_DATA_KEY_PREVIOUS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub data_key_previous: Vec<String>,
}

impl fmt::Debug for DataKeySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeySettings")
            .field("data_key", &self.data_key.as_ref().map(|_| "***"))
            .field("data_key_previous", &self.data_key_previous.len())
            .finish()
    }
}

/// Everything the server needs to start.
#[derive(Args, Clone, Debug)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub redis: RedisSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub data_key: DataKeySettings,
    #[command(flatten)]
    pub webhooks: WebhookSettings,
    #[command(flatten)]
    pub jobs: JobSettings,
    #[command(flatten)]
    pub attachments: AttachmentSettings,
    #[command(flatten)]
    pub mail: MailSettings,
}

/// Notices by email.
#[derive(Args, Clone)]
pub struct MailSettings {
    /// SMTP server for notices by email: `smtp://[user:password@]host[:port]` (add
    /// `?tls=required` for STARTTLS) or `smtps://...` (TLS); unset: no email (said at startup).
    #[arg(long, env = "HELPDESK_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Who mail comes from.
    #[arg(
        long,
        env = "HELPDESK_MAIL_FROM",
        default_value = "Helpdesk <helpdesk@localhost>"
    )]
    pub mail_from: String,
    /// Seconds one mail may take to send (the whole SMTP conversation); a mail in flight is
    /// held from other senders this long and 5 s more, so a crash delays it by no more.
    #[arg(long, env = "HELPDESK_SMTP_TIMEOUT", default_value_t = 30)]
    pub smtp_timeout_secs: u64,
    /// The page password reset links open, with `?token=...` appended; unset: this server's
    /// own form at `<HELPDESK_PUBLIC_URL>/password-reset`.
    #[arg(long, env = "HELPDESK_PASSWORD_RESET_URL")]
    pub password_reset_url: Option<String>,
}

impl Default for MailSettings {
    fn default() -> Self {
        defaults()
    }
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(service::db::redact),
            )
            .field("mail_from", &self.mail_from)
            .field("smtp_timeout_secs", &self.smtp_timeout_secs)
            .field("password_reset_url", &self.password_reset_url)
            .finish()
    }
}

/// Where attachments' bytes live.
#[derive(Args, Clone, Debug, Default)]
pub struct StorageSettings {
    /// Directory holding attachments (encrypted); default: `<database>-files` beside the SQLite
    /// database, `attachments` in the working directory on PostgreSQL.
    #[arg(long, env = "HELPDESK_STORAGE_DIR")]
    pub storage_dir: Option<std::path::PathBuf>,
    /// S3-compatible storage instead of the directory: `s3://bucket[/prefix]`, with the standard
    /// AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`).
    #[arg(long, env = "HELPDESK_STORAGE_URL")]
    pub storage_url: Option<String>,
}

impl StorageSettings {
    /// The S3 URL, when one is set.
    pub fn url(&self) -> Option<&str> {
        self.storage_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
    }

    /// The storage directory: as set, or beside the SQLite database, or `attachments`.
    pub fn dir_for(&self, database_url: &str) -> std::path::PathBuf {
        if let Some(dir) = &self.storage_dir {
            return dir.clone();
        }
        let file = database_url
            .strip_prefix("sqlite://")
            .or_else(|| database_url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or_default())
            .filter(|path| !path.is_empty() && *path != ":memory:");
        match file {
            Some(path) => std::path::PathBuf::from(format!("{path}-files")),
            None => std::path::PathBuf::from("attachments"),
        }
    }

    /// Opens the storage (creating the directory if it is missing).
    pub fn open(
        &self,
        database_url: &str,
    ) -> Result<service::attachment::Storage, service::attachment::storage::StorageError> {
        service::attachment::Storage::from_settings(&self.dir_for(database_url), self.url())
    }
}

/// Attachments: where their bytes live, what is accepted, and the virus scanner.
#[derive(Args, Clone, Debug)]
pub struct AttachmentSettings {
    #[command(flatten)]
    pub storage: StorageSettings,
    /// Largest file accepted, in bytes.
    #[arg(long, env = "HELPDESK_ATTACHMENT_MAX_BYTES", default_value_t = service::attachment::DEFAULT_MAX_BYTES)]
    pub attachment_max_bytes: u64,
    /// Largest total of one ticket's files, in bytes.
    #[arg(long, env = "HELPDESK_ATTACHMENT_TICKET_MAX_BYTES", default_value_t = service::attachment::DEFAULT_TICKET_MAX_BYTES)]
    pub attachment_ticket_max_bytes: u64,
    /// Refused files: comma-separated content types and file name extensions (`.exe`).
    #[arg(long, env = "HELPDESK_ATTACHMENT_REFUSED_TYPES", default_value = service::attachment::DEFAULT_REFUSED_TYPES)]
    pub attachment_refused_types: String,
    /// Hours an upload may stay unattached before it is removed.
    #[arg(long, env = "HELPDESK_UPLOAD_EXPIRY_HOURS", default_value_t = 24)]
    pub upload_expiry_hours: i64,
    /// ClamAV's clamd: `tcp://host:port` or `unix:/path/to/clamd.ctl`; unset: files are not
    /// scanned (`NOT_SCANNED`).
    #[arg(long, env = "HELPDESK_CLAMD_ADDR")]
    pub clamd_addr: Option<String>,
    /// Serve only files a scanner found clean (without a scanner, none).
    #[arg(
        long,
        env = "HELPDESK_REQUIRE_SCAN",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub require_scan: bool,
    /// Base URL of this server as clients reach it (`https://helpdesk.example.com`), for the
    /// upload and download links; unset: links are paths on the API's own origin.
    #[arg(long, env = "HELPDESK_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl Default for AttachmentSettings {
    fn default() -> Self {
        defaults()
    }
}

impl AttachmentSettings {
    pub fn policy(&self) -> service::attachment::Policy {
        service::attachment::Policy {
            max_bytes: self.attachment_max_bytes,
            ticket_max_bytes: self.attachment_ticket_max_bytes,
            refused: service::attachment::parse_refused(&self.attachment_refused_types),
            require_scan: self.require_scan,
            upload_ttl: chrono::Duration::hours(self.upload_expiry_hours.clamp(1, 24 * 365)),
            ..Default::default()
        }
    }
}

/// Background jobs and the statistics cache.
#[derive(Args, Clone, Debug)]
pub struct JobSettings {
    /// Seconds between rounds of the SLA scanner, auto-close and retention; 0 turns them off.
    #[arg(long, env = "HELPDESK_JOBS_INTERVAL", default_value_t = 30)]
    pub jobs_interval_secs: u64,
    /// Days a ticket stays RESOLVED before it is closed by the system.
    #[arg(long, env = "HELPDESK_AUTO_CLOSE_DAYS", default_value_t = 30)]
    pub auto_close_days: i64,
    /// Days audit log entries are kept.
    #[arg(long, env = "HELPDESK_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: i64,
    /// Days published events stay in the event log (history, change feed, resuming
    /// subscriptions); an older cursor gets `CURSOR_EXPIRED`.
    #[arg(long, env = "HELPDESK_EVENT_RETENTION_DAYS", default_value_t = 90)]
    pub event_retention_days: i64,
    /// Days webhook deliveries that failed for good stay in the delivery log.
    #[arg(
        long,
        env = "HELPDESK_FAILED_DELIVERY_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub failed_delivery_retention_days: i64,
    /// Seconds a statistics answer stays cached (it is never served after a change); 0 turns
    /// the cache off.
    #[arg(long, env = "HELPDESK_STATS_TTL", default_value_t = 300)]
    pub stats_ttl_secs: u64,
    /// Milliseconds of changes gathered into one `ticketStatsUpdated` push.
    #[arg(long, env = "HELPDESK_STATS_PUSH_INTERVAL_MS", default_value_t = 1000)]
    pub stats_push_interval_ms: u64,
}

impl JobSettings {
    pub fn retention(&self) -> service::jobs::RetentionPolicy {
        service::jobs::RetentionPolicy {
            audit_days: self.audit_retention_days,
            event_days: self.event_retention_days,
            failed_delivery_days: self.failed_delivery_retention_days,
        }
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        defaults()
    }
}

/// Webhook deliveries.
#[derive(Args, Clone, Debug)]
pub struct WebhookSettings {
    /// Let webhooks point to loopback, private, link-local and other internal addresses (for
    /// tests and closed networks; logged at startup).
    #[arg(
        long,
        env = "HELPDESK_WEBHOOK_ALLOW_PRIVATE",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub webhook_allow_private: bool,
    /// Seconds an endpoint has to answer a delivery.
    #[arg(long, env = "HELPDESK_WEBHOOK_TIMEOUT", default_value_t = 10)]
    pub webhook_timeout_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        defaults()
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logs and traces.
#[derive(Args, Clone, Debug)]
pub struct TelemetrySettings {
    /// Log filter, in `tracing` directive syntax.
    #[arg(
        long = "log",
        env = "RUST_LOG",
        default_value = "info,sqlx=warn,sea_orm=warn,async_graphql::dataloader=warn",
        global = true
    )]
    pub log_filter: String,
    /// Log line format.
    #[arg(long, env = "HELPDESK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn cors_origins_must_be_plain_origins() {
        assert_eq!(
            parse_origin(" https://Dash.Example.com:8443 ").as_deref(),
            Ok("https://dash.example.com:8443")
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:3000").as_deref(),
            Ok("http://127.0.0.1:3000")
        );
        assert_eq!(
            parse_origin("").as_deref(),
            Ok(""),
            "an empty variable means none"
        );
        for refused in [
            "dash.example.com",
            "https://dash.example.com/",
            "https://dash.example.com/app",
            "https://*.example.com",
            "*",
            "https://",
            "ftp://dash.example.com",
            "https://user@dash.example.com",
        ] {
            assert!(parse_origin(refused).is_err(), "{refused} was accepted");
        }
    }
}
