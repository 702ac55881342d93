//! The `TestApp` harness and the test database it runs on.
//!
//! Environment:
//! - `HELPDESK_TEST_DATABASE_URL`: a PostgreSQL URL with the right to create databases. Each
//!   test then gets its own uniquely named database, dropped when the test ends. Unset: each
//!   test gets a temporary SQLite file.
//! - `HELPDESK_TEST_REDIS_URL`: a Redis server the app is configured with.
//!
//! A configured server that does not answer fails the test with a message saying so; nothing
//! falls back silently.

use std::process::Stdio;
use std::time::Duration;

use api::config::{AuthSettings, DatabaseSettings, RedisSettings, ServerSettings};
use api::{AppState, Application, Settings};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const POSTGRES_ENV: &str = "HELPDESK_TEST_DATABASE_URL";
pub const REDIS_ENV: &str = "HELPDESK_TEST_REDIS_URL";

pub fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|v| !v.is_empty())
}

pub fn redis_url() -> Option<String> {
    std::env::var(REDIS_ENV).ok().filter(|v| !v.is_empty())
}

/// A database that exists for one test.
pub enum TestDatabase {
    Sqlite {
        dir: TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    /// A new, empty (not migrated) database.
    pub async fn create() -> Self {
        match postgres_admin_url() {
            Some(admin_url) => {
                let name = format!("helpdesk_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sea_orm::Database::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{POSTGRES_ENV} is set but PostgreSQL does not answer: {e}")
                    });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
                admin.close().await.ok();
                let mut url = url::Url::parse(&admin_url).expect("valid PostgreSQL URL");
                url.set_path(&format!("/{name}"));
                TestDatabase::Postgres {
                    admin_url,
                    name,
                    url: url.to_string(),
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("helpdesk.db").display());
                TestDatabase::Sqlite { dir, url }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDatabase::Postgres { .. })
    }

    /// A working directory for the test (the binary's current directory in CLI tests).
    pub fn scratch_dir(&self) -> std::path::PathBuf {
        match self {
            TestDatabase::Sqlite { dir, .. } => dir.path().to_path_buf(),
            TestDatabase::Postgres { .. } => std::env::temp_dir(),
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        service::db::connect(self.url(), service::db::DbOptions::default())
            .await
            .unwrap_or_else(|e| panic!("cannot open the test database: {e}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres {
            admin_url, name, ..
        } = self
        {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside any runtime guarantee; a private runtime on its own thread
            // can always block.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let admin = sea_orm::Database::connect(&admin_url).await?;
                    admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await?;
                    admin.close().await
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("warning: could not drop test database {}", self.url());
            }
        }
    }
}

/// The settings a test server runs with.
pub fn settings_for(database: &TestDatabase) -> Settings {
    Settings {
        server: ServerSettings {
            addr: "127.0.0.1:0".parse().expect("address"),
            ..ServerSettings::default()
        },
        database: DatabaseSettings {
            database_url: database.url().to_string(),
            db_max_connections: 10,
            slow_query_ms: 100,
        },
        redis: RedisSettings {
            redis_url: redis_url(),
        },
        auth: AuthSettings {
            jwt_secret: Some(TEST_JWT_SECRET.into()),
            ..AuthSettings::default()
        },
    }
}

/// The signing key of test servers (PostgreSQL requires one to be configured).
pub const TEST_JWT_SECRET: &str = "test-signing-key-of-at-least-32-bytes!";

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub database: TestDatabase,
}

impl TestApp {
    /// The real server on a random port over a fresh, migrated database.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::create().await;
        let mut settings = settings_for(&database);
        configure(&mut settings);
        let app = Application::build(settings)
            .await
            .unwrap_or_else(|e| panic!("the application did not start: {e}"));
        let address = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            address,
            state,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            server: Some(server),
            database,
        }
    }

    /// The app's own pooled connection (its statements count in `/metrics`).
    pub fn db(&self) -> &DatabaseConnection {
        self.state.db()
    }

    /// POSTs a GraphQL operation and returns the whole JSON response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("POST /graphql");
        response.json().await.expect("a JSON GraphQL response")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// The current value of one unlabelled metric from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let body = self
            .get("/metrics")
            .await
            .text()
            .await
            .expect("metrics body");
        metric_value(&body, name).unwrap_or_else(|| panic!("metric {name} not found in:\n{body}"))
    }

    /// Delivers the shutdown signal without waiting for the server to finish.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server the way a shutdown signal does and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// The value of the sample `name` (exact, labels included) in a text exposition.
pub fn metric_value(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (sample, value) = line.rsplit_once(' ')?;
        (sample == name).then(|| value.parse().ok())?
    })
}

/// The `helpdesk` binary, with no configuration inherited from the environment.
pub fn helpdesk(database: &TestDatabase) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_helpdesk"));
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if name.starts_with("HELPDESK_")
            || name.starts_with("OTEL_")
            || matches!(name.as_ref(), "DATABASE_URL" | "REDIS_URL" | "RUST_LOG")
        {
            command.env_remove(&var);
        }
    }
    command
        .env("DATABASE_URL", database.url())
        .env("HELPDESK_JWT_SECRET", TEST_JWT_SECRET)
        .current_dir(database.scratch_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command to completion (at most a minute), optionally feeding it `stdin`.
pub async fn run(mut command: tokio::process::Command, stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    if stdin.is_some() {
        command.stdin(Stdio::piped());
    }
    let mut child = command.spawn().expect("start helpdesk");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("helpdesk finished within a minute")
        .expect("helpdesk output");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Makes an organization, a client in it, and returns (organization id, client id).
pub async fn organization_with_client(
    db: &DatabaseConnection,
    name: &str,
) -> (uuid::Uuid, uuid::Uuid) {
    let org = service::organization::create(
        db,
        service::organization::NewOrganization {
            name: name.to_string(),
            ..Default::default()
        },
    )
    .await
    .expect("organization");
    let client = service::user::create(
        db,
        service::user::NewUser {
            email: format!("client@{}.example", name.to_lowercase().replace(' ', "-")),
            name: format!("Client of {name}"),
            password: "a long enough password".into(),
            role: entity::enums::Role::Client,
            is_approved: true,
        },
    )
    .await
    .expect("client");
    service::organization::add_member(db, org.id, client.id)
        .await
        .expect("membership");
    (org.id, client.id)
}

pub fn new_ticket(
    organization_id: uuid::Uuid,
    requester_id: uuid::Uuid,
    title: &str,
) -> service::ticket::NewTicket {
    service::ticket::NewTicket {
        title: title.to_string(),
        description: format!("{title}, in detail."),
        priority: entity::enums::TicketPriority::Medium,
        category: entity::enums::TicketCategory::Technical,
        requester_id,
        organization_id,
    }
}

/// A `helpdesk serve` process that has printed where it listens.
pub struct RunningServer {
    pub child: tokio::process::Child,
    pub address: String,
    /// What it printed to stdout up to the listening line.
    pub printed: Vec<String>,
}

impl RunningServer {
    /// Starts the command and waits (at most a minute) for its "listening on" line.
    pub async fn start(mut command: tokio::process::Command) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = command.spawn().expect("start helpdesk");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout pipe")).lines();
        let mut printed = Vec::new();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = stdout.next_line().await.expect("stdout") {
                printed.push(line.clone());
                if let Some(rest) = line.split("listening on ").nth(1) {
                    return rest.trim().to_string();
                }
            }
            panic!("helpdesk exited before listening: {printed:?}");
        })
        .await
        .expect("listening within a minute");
        RunningServer {
            child,
            address,
            printed,
        }
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "SIGTERM was not delivered");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("exits within 30 s of SIGTERM")
            .expect("exit status")
    }
}
