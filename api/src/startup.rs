//! Building and running the server: open the database (and Redis), apply migrations, bind the
//! listener, serve until a shutdown signal, then drain.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::state::AppState;

/// Why the server could not start. Each message is one line, safe to print (no passwords).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] service::db::ConnectError),
    #[error(transparent)]
    Redis(#[from] service::redis::RedisConnectError),
    #[error("{0} migration(s) pending and --no-migrate is set: {1} (run `helpdesk migrate up`)")]
    PendingMigrations(usize, String),
    #[error("applying migrations failed: {0}")]
    Migrations(String),
    #[error("{0}")]
    Auth(String),
    #[error("{0}")]
    DataKey(String),
    #[error("attachments: {0}")]
    Attachments(String),
    #[error("{0}")]
    Mail(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    listener: TcpListener,
    /// `/metrics` on an address of its own, when one is configured.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    settings: Settings,
}

impl Application {
    /// Connects, migrates and binds. The returned application is not serving yet: call
    /// [`Application::run_until`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let backend = service::db::backend_of(&settings.database.database_url)?;
        let auth = std::sync::Arc::new(build_auth(&settings.auth, backend)?);
        let keyring = std::sync::Arc::new(build_keyring(
            &settings.data_key,
            &settings.database.database_url,
        )?);
        let metrics = Metrics::new();
        let hook_metrics = metrics.clone();
        let db = service::db::connect(
            &settings.database.database_url,
            service::db::DbOptions {
                max_connections: settings.database.db_max_connections,
                slow_statement: settings.database.slow_statement(),
                on_statement: Some(std::sync::Arc::new(move |info| {
                    hook_metrics.record_statement(info.failed)
                })),
                ..Default::default()
            },
        )
        .await?;
        migrate(&db, settings.server.no_migrate).await?;
        // A fresh install starts with the default SLA policies.
        service::sla::install_defaults(&db)
            .await
            .map_err(|e| StartupError::Migrations(e.to_string()))?;
        seal_stored_secrets(&db, &keyring).await?;
        let redis = match &settings.redis.redis_url {
            Some(url) => Some(service::redis::connect(url).await?),
            None => None,
        };
        let options_limits = crate::graphql::Limits {
            max_depth: settings.server.max_query_depth,
            ..Default::default()
        };
        let options = crate::graphql::SchemaOptions {
            introspection: settings
                .server
                .introspection
                .unwrap_or(backend == service::db::Backend::Sqlite),
            limits: options_limits,
            max_complexity: settings.server.max_query_complexity,
            webhook_policy: service::webhook::UrlPolicy {
                allow_private: settings.webhooks.webhook_allow_private,
            },
            keyring: Some(keyring.clone()),
            attachments: None,
            password_resets: None,
            stats_cache: Some(std::sync::Arc::new(stats_cache(
                &settings,
                redis.clone(),
                &metrics,
            ))),
            stats_push_interval: crate::graphql::subscription::StatsPushInterval(
                Duration::from_millis(settings.jobs.stats_push_interval_ms.max(1)),
            ),
            max_response_bytes: settings.server.max_response_bytes,
            max_concurrent_replays: settings.server.max_concurrent_replays,
            trace_fields: settings.server.trace_fields,
            #[cfg(feature = "test-hooks")]
            panic_in_field: settings.server.panic_in_field.clone(),
        };
        if settings.webhooks.webhook_allow_private {
            tracing::warn!(
                "HELPDESK_WEBHOOK_ALLOW_PRIVATE is on: webhooks may point to loopback, private \
                 and link-local addresses, including this server's own network"
            );
        }
        let fanout = match (&settings.redis.redis_url, &redis) {
            (Some(url), Some(publisher)) => Some(
                crate::events::Fanout::connect(
                    url,
                    &settings.redis.redis_prefix,
                    publisher.clone(),
                )
                .await?,
            ),
            _ => None,
        };
        // Links in mails point at this server as recipients reach it.
        let base = settings
            .attachments
            .public_url
            .clone()
            .filter(|url| !url.trim().is_empty())
            .map(|url| url.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{}", settings.server.addr));
        let mailer = match settings.mail.smtp_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => {
                let mailer =
                    service::notification::mail::Mailer::new(url, &settings.mail.mail_from)
                        .map_err(StartupError::Mail)?
                        .with_timeout(Duration::from_secs(settings.mail.smtp_timeout_secs.max(1)))
                        .with_unsubscribe(keyring.clone(), &base);
                tracing::info!(
                    server = mailer.server(),
                    "notices by email go through this SMTP server"
                );
                Some(mailer)
            }
            _ => {
                tracing::info!("HELPDESK_SMTP_URL is unset: notices are in the app only, no email");
                None
            }
        };
        let bus =
            crate::events::EventBus::new(metrics.clone(), fanout).with_email(mailer.is_some());
        let attachments = std::sync::Arc::new(build_attachments(
            &settings.attachments,
            &settings.database.database_url,
            keyring.clone(),
        )?);
        let background_metrics = metrics.clone();
        let background_db = service::db::with_hook(
            &db,
            settings.database.slow_statement(),
            std::sync::Arc::new(move |_| background_metrics.record_background_statement()),
        );
        let options = crate::graphql::SchemaOptions {
            password_resets: mailer.clone().map(|mailer| service::password_reset::Links {
                mailer,
                base_url: settings
                    .mail
                    .password_reset_url
                    .clone()
                    .filter(|url| !url.trim().is_empty())
                    .unwrap_or_else(|| format!("{base}/password-reset")),
            }),
            attachments: Some(crate::graphql::AttachmentLinks {
                attachments: attachments.clone(),
                public_url: settings
                    .attachments
                    .public_url
                    .as_deref()
                    .map(|url| url.trim_end_matches('/').to_string())
                    .unwrap_or_default(),
            }),
            ..options
        };
        let schemas = crate::graphql::build_schema(
            db.clone(),
            auth.clone(),
            metrics.clone(),
            bus.clone(),
            options,
        );
        let state = AppState::new(crate::state::Parts {
            db,
            background_db,
            keyring,
            redis,
            auth,
            metrics,
            schemas,
            max_response_bytes: settings.server.max_response_bytes,
            limits: options_limits,
            http: crate::state::HttpOptions {
                graphiql: settings.server.graphiql,
                max_batch: settings.server.max_batch,
                // Checked to be plain origins (or empty) when the settings were read.
                cors_origins: settings
                    .server
                    .cors_origins
                    .iter()
                    .filter(|origin| !origin.is_empty())
                    .filter_map(|origin| axum::http::HeaderValue::from_str(origin).ok())
                    .collect(),
                max_sockets_per_user: settings.server.max_sockets_per_user,
                max_sockets_per_address: settings.server.max_sockets_per_address,
                forwarded_for: crate::http::client_addr::ForwardedFor::new(
                    settings.server.trust_forwarded_for,
                    &settings.server.trusted_proxies,
                ),
                separate_metrics: settings.server.metrics_addr.is_some(),
            },
            bus,
            attachments,
            mailer,
        });
        let listener = bind(settings.server.addr).await?;
        let metrics_listener = match settings.server.metrics_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Self {
            listener,
            metrics_listener,
            state,
            settings,
        })
    }

    /// The address actually bound (the port is chosen by the OS when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.settings.server.addr)
    }

    /// The address `/metrics` is served on when it has a listener of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        let listener = self.metrics_listener.as_ref()?;
        listener
            .local_addr()
            .ok()
            .or(self.settings.server.metrics_addr)
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then: `/readyz` turns 503, the server keeps serving
    /// for the configured delay (so load balancers notice), stops accepting connections, and
    /// waits up to the shutdown timeout for in-flight requests to finish.
    pub async fn run_until<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Application {
            listener,
            metrics_listener,
            state,
            settings,
        } = self;
        let app = crate::http::router(state.clone());
        // The metrics listener serves through the drain (a scrape then shows it) and stops
        // once the main server has.
        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let metrics_server = metrics_listener.map(|listener| {
            let server = axum::serve(listener, crate::http::metrics_router(state.clone()))
                .with_graceful_shutdown(async move {
                    let _ = metrics_stopped.await;
                });
            tokio::spawn(async move { server.await })
        });
        // The relay runs while the server does.
        let relay = tokio::spawn(state.bus().clone().run(state.background_db().clone()));
        let deliverer = service::webhook::deliver::Deliverer::new(
            service::webhook::UrlPolicy {
                allow_private: settings.webhooks.webhook_allow_private,
            },
            Duration::from_secs(settings.webhooks.webhook_timeout_secs.max(1)),
            state.keyring().clone(),
        );
        let deliveries = tokio::spawn(
            state
                .bus()
                .clone()
                .deliver(deliverer, state.background_db().clone()),
        );
        let jobs = tokio::spawn(crate::jobs::run(
            state.background_db().clone(),
            settings.jobs.clone(),
            state.metrics().clone(),
            state.bus().clone(),
            state.attachments().clone(),
        ));
        let mail = state.mailer().cloned().map(|mailer| {
            tokio::spawn(
                state
                    .bus()
                    .clone()
                    .mail(mailer, state.background_db().clone()),
            )
        });
        let scanner = tokio::spawn(crate::jobs::scan_attachments(
            state.background_db().clone(),
            state.attachments().clone(),
            state.bus().clone(),
        ));
        let delay = Duration::from_secs(settings.server.shutdown_delay_secs);
        let timeout = Duration::from_secs(settings.server.shutdown_timeout_secs);

        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let draining = state.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutdown requested: readiness is now 503, draining");
            draining.start_draining();
            tokio::time::sleep(delay).await;
            let _ = stopped_tx.send(());
        };
        // Small writes (a subscription push, a short answer) go out at once instead of
        // waiting for the peer's delayed acknowledgement of the previous one.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(%err, "cannot set TCP_NODELAY on a connection");
            }
        });
        let server = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let server = tokio::spawn(async move { server.await });
        // Wait for the signal, then give in-flight requests and open subscription sockets
        // (told to close with 1012) `timeout` to finish.
        let mut server = server;
        let served = tokio::select! {
            result = &mut server => flatten(result),
            _ = stopped_rx => {
                state.close_sockets();
                let finished = async {
                    let served = (&mut server).await;
                    state.sockets_closed().await;
                    served
                };
                match tokio::time::timeout(timeout, finished).await {
                    Ok(result) => flatten(result),
                    Err(_) => {
                        tracing::warn!(?timeout, "in-flight requests did not finish in time; exiting");
                        server.abort();
                        Ok(())
                    }
                }
            }
        };
        let _ = metrics_stop.send(());
        if let Some(mut metrics_server) = metrics_server {
            // A scrape takes milliseconds; a scraper holding its connection open must not keep
            // the process alive.
            if tokio::time::timeout(Duration::from_secs(5), &mut metrics_server)
                .await
                .is_err()
            {
                metrics_server.abort();
            }
        }
        relay.abort();
        deliveries.abort();
        jobs.abort();
        scanner.abort();
        if let Some(mail) = mail {
            mail.abort();
        }
        // Closing the pool lets SQLite checkpoint its write-ahead log and PostgreSQL end the
        // sessions cleanly instead of seeing dropped connections.
        if let Err(err) = state.db().clone().close().await {
            tracing::warn!(%err, "closing the database pool failed");
        }
        served
    }
}

/// Attachments' storage, policy and scanner, from the settings. The storage is opened (a
/// directory created) now; an unreachable scanner is logged, and files wait for it.
fn build_attachments(
    settings: &crate::config::AttachmentSettings,
    database_url: &str,
    keyring: std::sync::Arc<service::crypto::Keyring>,
) -> Result<service::attachment::Attachments, StartupError> {
    let storage = settings
        .storage
        .open(database_url)
        .map_err(|e| StartupError::Attachments(e.to_string()))?;
    let scanner = match settings.clamd_addr.as_deref().map(str::trim) {
        Some(addr) if !addr.is_empty() => Some(service::attachment::scan::Scanner::new(
            service::attachment::scan::ClamdAddr::parse(addr)
                .map_err(|e| StartupError::Attachments(format!("HELPDESK_CLAMD_ADDR: {e}")))?,
        )),
        _ => None,
    };
    match &scanner {
        Some(scanner) => {
            tracing::info!(storage = storage.describe(), clamd = %scanner.addr(), "attachments are scanned")
        }
        None if settings.require_scan => tracing::warn!(
            storage = storage.describe(),
            "HELPDESK_REQUIRE_SCAN is on but HELPDESK_CLAMD_ADDR is unset: no file can be downloaded"
        ),
        None => tracing::info!(
            storage = storage.describe(),
            "HELPDESK_CLAMD_ADDR is unset: attachments are not scanned for viruses"
        ),
    }
    Ok(service::attachment::Attachments {
        storage,
        keyring,
        policy: settings.policy(),
        scanner,
        wake: Default::default(),
    })
}

/// The statistics cache: in Redis when it is configured (shared by the replicas), in process
/// otherwise.
fn stats_cache(
    settings: &Settings,
    redis: Option<redis::aio::ConnectionManager>,
    metrics: &std::sync::Arc<Metrics>,
) -> service::stats::cache::StatsCache {
    use service::stats::cache::StatsCache;
    let ttl = Duration::from_secs(settings.jobs.stats_ttl_secs);
    let observer = metrics.stats_cache_observer();
    match redis {
        Some(conn) => StatsCache::redis(conn, &settings.redis.redis_prefix, ttl, observer),
        None => StatsCache::local(ttl, 10_000, observer),
    }
}

/// The token signer: a configured key of at least 32 bytes; without one, a random key on the
/// embedded default (with a warning) and a startup error on PostgreSQL, where several replicas
/// must share the key.
fn build_auth(
    settings: &crate::config::AuthSettings,
    backend: service::db::Backend,
) -> Result<service::auth::Auth, StartupError> {
    use service::auth::{Auth, AuthConfig, MIN_SECRET_BYTES, random_secret};
    let secret = match &settings.jwt_secret {
        Some(secret) if secret.len() >= MIN_SECRET_BYTES => secret.as_bytes().to_vec(),
        Some(_) => {
            return Err(StartupError::Auth(format!(
                "HELPDESK_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            )));
        }
        None if backend == service::db::Backend::Sqlite => {
            tracing::warn!(
                "HELPDESK_JWT_SECRET is not set: signing tokens with a random key; they stop \
                 working when the server restarts"
            );
            random_secret()
        }
        None => {
            return Err(StartupError::Auth(
                "HELPDESK_JWT_SECRET is required on PostgreSQL (at least 32 bytes)".into(),
            ));
        }
    };
    let mut config = AuthConfig::with_secret(secret);
    config.access_ttl = Duration::from_secs(settings.access_token_ttl_secs);
    config.refresh_ttl =
        Duration::from_secs(settings.refresh_token_ttl_days.saturating_mul(24 * 3600));
    config.lockout_threshold = settings.lockout_threshold.max(1);
    config.lockout_duration = Duration::from_secs(settings.lockout_minutes.saturating_mul(60));
    config.refresh_family_lifetime =
        Duration::from_secs(settings.session_max_days.saturating_mul(24 * 3600));
    config.throttle = service::throttle::ThrottleConfig {
        per_account_per_minute: settings.login_rate_per_account,
        per_address_per_minute: settings.login_rate_per_address,
    };
    config.second_factor_roles = settings.require_2fa_roles.clone();
    Auth::new(config).map_err(|e| StartupError::Auth(e.to_string()))
}

/// The data keyring: `HELPDESK_DATA_KEY` (and the previous keys) when set; without it, the
/// key file beside the SQLite database on the embedded default (made on the first start), and
/// a startup error on PostgreSQL, where every replica must share the key and a file on one
/// machine would not do.
pub fn build_keyring(
    settings: &crate::config::DataKeySettings,
    database_url: &str,
) -> Result<service::crypto::Keyring, StartupError> {
    use service::crypto::{DataKey, Keyring};
    let bad = |name: &str, err: service::crypto::CryptoError| {
        StartupError::DataKey(format!("{name} {err}"))
    };
    let mut previous = Vec::new();
    for (n, text) in settings
        .data_key_previous
        .iter()
        .filter(|t| !t.trim().is_empty())
        .enumerate()
    {
        previous.push(
            DataKey::from_base64(text)
                .map_err(|e| bad(&format!("HELPDESK_DATA_KEY_PREVIOUS (key {})", n + 1), e))?,
        );
    }
    let current = match settings
        .data_key
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        Some(text) => DataKey::from_base64(text).map_err(|e| bad("HELPDESK_DATA_KEY", e))?,
        None => match service::db::backend_of(database_url)? {
            service::db::Backend::Sqlite => {
                let database = service::db::target_of(database_url);
                if database.is_empty() || database.starts_with(":memory:") {
                    tracing::warn!(
                        "HELPDESK_DATA_KEY is not set and the database is in memory: sealing \
                         secrets with a random key that dies with the process"
                    );
                    DataKey::generate()
                } else {
                    let path = service::crypto::key_file_of(std::path::Path::new(&database));
                    let (key, created) = service::crypto::load_or_create_key_file(&path)
                        .map_err(|e| StartupError::DataKey(e.to_string()))?;
                    tracing::warn!(
                        file = %path.display(),
                        key_id = key.id(),
                        created,
                        "HELPDESK_DATA_KEY is not set: secrets at rest are sealed with the key \
                         in this file; back it up with the database (without it they are lost)"
                    );
                    key
                }
            }
            service::db::Backend::Postgres => {
                return Err(StartupError::DataKey(
                    "HELPDESK_DATA_KEY is required on PostgreSQL (base64 of 32 random bytes; \
                     generate one with `openssl rand -base64 32`)"
                        .into(),
                ));
            }
        },
    };
    Ok(Keyring::new(current, previous))
}

/// Seals webhook secrets stored before sealing began, and refuses to start when stored
/// secrets name a data key this server was not given.
async fn seal_stored_secrets(
    db: &DatabaseConnection,
    keyring: &service::crypto::Keyring,
) -> Result<(), StartupError> {
    match service::webhook::secret::seal_stored(db, keyring).await {
        Ok(report) => {
            if report.endpoints > 0 {
                tracing::info!(
                    endpoints = report.endpoints,
                    key_id = keyring.current_id(),
                    "sealed webhook signing secrets stored in plain text"
                );
            }
            Ok(())
        }
        Err(service::Error::Crypto(err)) => Err(StartupError::DataKey(format!(
            "webhook signing secrets cannot be opened: {err}"
        ))),
        Err(err) => Err(StartupError::DataKey(format!(
            "sealing stored webhook secrets failed: {}",
            error_chain(&err)
        ))),
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })
}

fn flatten(result: Result<std::io::Result<()>, tokio::task::JoinError>) -> std::io::Result<()> {
    result.map_err(std::io::Error::other)?
}

async fn migrate(db: &DatabaseConnection, no_migrate: bool) -> Result<(), StartupError> {
    let failed = |e: sea_orm::DbErr| StartupError::Migrations(error_chain(&e));
    if no_migrate {
        let pending = pending_migrations(db).await.map_err(failed)?;
        if !pending.is_empty() {
            return Err(StartupError::PendingMigrations(
                pending.len(),
                pending.join(", "),
            ));
        }
        return Ok(());
    }
    let applied = apply_migrations(db).await.map_err(failed)?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    Ok(())
}

/// Names of the migrations not yet applied, oldest first. Reads only: it does not create the
/// bookkeeping table, so it works for a database role without DDL rights.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, sea_orm::DbErr> {
    use migration::MigratorTrait;
    Ok(migration::Migrator::get_pending_migrations_read_only(db)
        .await?
        .iter()
        .map(|m| m.name().to_string())
        .collect())
}

/// Applies every pending migration and returns their names.
pub async fn apply_migrations(db: &DatabaseConnection) -> Result<Vec<String>, sea_orm::DbErr> {
    use migration::MigratorTrait;
    let pending = pending_migrations(db).await?;
    if !pending.is_empty() {
        migration::Migrator::up(db, None).await?;
    }
    Ok(pending)
}

/// An error and its causes on one line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
