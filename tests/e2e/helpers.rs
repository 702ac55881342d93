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

use api::config::{
    AttachmentSettings, AuthSettings, DataKeySettings, DatabaseSettings, JobSettings,
    RedisSettings, ServerSettings, StorageSettings, WebhookSettings,
};
use api::{AppState, Application, Settings};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
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

    /// The Redis prefix of servers on this database: tests share one Redis, and each test's
    /// events must reach only its own servers.
    pub fn redis_prefix(&self) -> String {
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(self.url(), &mut hasher);
        format!("helpdesk-test-{:016x}", std::hash::Hasher::finish(&hasher))
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
            redis_prefix: database.redis_prefix(),
        },
        // Tests sign in far more often than a person; the throttling tests set their own limits.
        auth: AuthSettings {
            jwt_secret: Some(TEST_JWT_SECRET.into()),
            login_rate_per_account: 10_000,
            login_rate_per_address: 10_000,
            ..AuthSettings::default()
        },
        data_key: DataKeySettings {
            data_key: Some(TEST_DATA_KEY.into()),
            data_key_previous: vec![],
        },
        // Test receivers listen on loopback.
        webhooks: WebhookSettings {
            webhook_allow_private: true,
            ..WebhookSettings::default()
        },
        // Tests run the jobs on clocks of their own; the ones about the timer turn it on.
        jobs: JobSettings {
            jobs_interval_secs: 0,
            ..JobSettings::default()
        },
        // A directory of the test's own, or a prefix of its own in the S3-compatible server.
        attachments: AttachmentSettings {
            storage: storage_for(database),
            ..AttachmentSettings::default()
        },
        mail: Default::default(),
    }
}

/// Where a test database's attachments go: a directory of its own, or a prefix of its own in
/// the S3-compatible server.
pub fn storage_for(database: &TestDatabase) -> StorageSettings {
    StorageSettings {
        storage_dir: Some(
            database
                .scratch_dir()
                .join(format!("{}-files", database.redis_prefix())),
        ),
        storage_url: storage_url()
            .map(|url| format!("{}/{}", url.trim_end_matches('/'), database.redis_prefix())),
    }
}

/// An S3-compatible bucket (`s3://bucket/prefix`) the tests store attachments in, with the
/// standard AWS variables; without it, attachments go to a local directory.
pub const STORAGE_ENV: &str = "HELPDESK_TEST_STORAGE_URL";

pub fn storage_url() -> Option<String> {
    std::env::var(STORAGE_ENV)
        .ok()
        .filter(|url| !url.is_empty())
}

/// The signing key of test servers (PostgreSQL requires one to be configured).
pub const TEST_JWT_SECRET: &str = "test-signing-key-of-at-least-32-bytes!";

/// The data key of test servers and commands (PostgreSQL requires one to be configured; the
/// embedded default's key file has tests of its own).
pub const TEST_DATA_KEY: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

/// The keyring test servers and commands use, for tests that write sealed values themselves.
pub fn test_keyring() -> service::crypto::Keyring {
    service::crypto::Keyring::new(
        service::crypto::DataKey::from_base64(TEST_DATA_KEY).expect("the test data key"),
        vec![],
    )
}

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
        // Warnings and errors of the servers under test land in the failing test's output.
        static LOGS: std::sync::Once = std::sync::Once::new();
        LOGS.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("warn,sqlx=error")
                .with_test_writer()
                .try_init();
        });
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

    /// Waits until the relay has published every event written so far, so the change feed
    /// shows them. Changes made straight through `service` do not wake the relay; this does.
    pub async fn published(&self) {
        use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let pending = entity::outbox_event::Entity::find()
                .filter(entity::outbox_event::Column::PublishedAt.is_null())
                .count(self.db())
                .await
                .expect("count unpublished events");
            if pending == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{pending} event(s) not published within 20 s"
            );
            self.state.bus().wake_relay();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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
        .env("HELPDESK_DATA_KEY", TEST_DATA_KEY)
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

/// The password of every user the fixtures create.
pub const PASSWORD: &str = "correct horse battery staple";

/// A cast for access tests: two organizations, staff of every role, clients in each, and one
/// ticket per organization.
pub struct World {
    pub org_a: uuid::Uuid,
    pub org_b: uuid::Uuid,
    pub admin: uuid::Uuid,
    pub superagent: uuid::Uuid,
    /// An agent of organization A.
    pub agent_a: uuid::Uuid,
    /// An agent of organization B.
    pub agent_b: uuid::Uuid,
    /// A client of A who requested `ticket_a`.
    pub client_a: uuid::Uuid,
    /// Another client of A.
    pub client_a2: uuid::Uuid,
    pub client_b: uuid::Uuid,
    pub ticket_a: uuid::Uuid,
    pub ticket_b: uuid::Uuid,
}

pub fn email_of(name: &str) -> String {
    format!("{name}@world.example")
}

impl World {
    pub async fn build(db: &DatabaseConnection) -> Self {
        use entity::enums::Role;
        let hash = service::password::hash(PASSWORD).await.expect("hash");
        let org = |name: &str| {
            let name = name.to_string();
            async move {
                service::organization::create(
                    db,
                    service::organization::NewOrganization {
                        name,
                        ..Default::default()
                    },
                )
                .await
                .expect("organization")
                .id
            }
        };
        let org_a = org("Org A").await;
        let org_b = org("Org B").await;
        let person = |name: &'static str, role: Role, orgs: Vec<uuid::Uuid>| {
            let hash = hash.clone();
            async move {
                let user =
                    service::user::insert(db, email_of(name), name.to_string(), hash, role, true)
                        .await
                        .expect("user");
                for org in orgs {
                    service::organization::add_member(db, org, user.id)
                        .await
                        .expect("member");
                }
                user.id
            }
        };
        let admin = person("admin", Role::Admin, vec![]).await;
        let superagent = person("superagent", Role::Superagent, vec![]).await;
        let agent_a = person("agent_a", Role::Agent, vec![org_a]).await;
        let agent_b = person("agent_b", Role::Agent, vec![org_b]).await;
        let client_a = person("client_a", Role::Client, vec![org_a]).await;
        let client_a2 = person("client_a2", Role::Client, vec![org_a]).await;
        let client_b = person("client_b", Role::Client, vec![org_b]).await;
        let ticket_a = service::ticket::create(
            db,
            Some(client_a),
            new_ticket(org_a, client_a, "Ticket of A"),
        )
        .await
        .expect("ticket")
        .id;
        let ticket_b = service::ticket::create(
            db,
            Some(client_b),
            new_ticket(org_b, client_b, "Ticket of B"),
        )
        .await
        .expect("ticket")
        .id;
        World {
            org_a,
            org_b,
            admin,
            superagent,
            agent_a,
            agent_b,
            client_a,
            client_a2,
            client_b,
            ticket_a,
            ticket_b,
        }
    }
}

/// The service-level actor of a user, as a request by them would see it.
pub async fn actor_of(db: &DatabaseConnection, user_id: uuid::Uuid) -> service::actor::Actor {
    let user = entity::user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .expect("query")
        .expect("user");
    service::auth::actor_for_user(db, user.id)
        .await
        .expect("actor")
}

/// A global ID as the API shows it.
pub fn gid(kind: &str, id: uuid::Uuid) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

impl TestApp {
    /// Signs in through the API and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let response = self
            .graphql(
                "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        response["data"]["authLogin"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("login as {email} failed: {response}"))
            .to_string()
    }

    /// Changes the password of the user behind `token` from [`PASSWORD`] to `new_password`.
    pub async fn change_password(&self, token: &str, new_password: &str) {
        let changed = self
            .graphql_as(
                token,
                "mutation($current: String!, $new: String!) { userPasswordChange(input: { currentPassword: $current, newPassword: $new }) { success } }",
                json!({ "current": PASSWORD, "new": new_password }),
            )
            .await;
        assert_eq!(
            changed["data"]["userPasswordChange"]["success"], true,
            "{changed}"
        );
    }

    /// Writes a comment (an internal note when `internal`) on a ticket, given its global id.
    pub async fn comment_as(&self, token: &str, ticket: &str, body: &str, internal: bool) {
        let response = self
            .graphql_as(
                token,
                "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }",
                json!({ "input": { "ticketId": ticket, "body": body, "internal": internal } }),
            )
            .await;
        assert!(
            response["data"]["commentCreate"]["comment"]["id"].is_string(),
            "{response}"
        );
    }

    /// POSTs a GraphQL operation with a bearer token.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("POST /graphql")
            .json()
            .await
            .expect("a JSON GraphQL response")
    }
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response}"))
}

/// The global id of the active SLA policy of `priority` (`"CRITICAL"` ...), read as `token`.
pub async fn policy_id(app: &TestApp, token: &str, priority: &str) -> Value {
    let policies = app
        .graphql_as(token, "{ slaPolicies { id priority } }", json!({}))
        .await;
    policies["data"]["slaPolicies"]
        .as_array()
        .unwrap_or_else(|| panic!("{policies}"))
        .iter()
        .find(|p| p["priority"] == priority)
        .unwrap_or_else(|| panic!("no {priority} policy: {policies}"))["id"]
        .clone()
}

/// The uuid in a global id.
pub fn uuid_of(id: &Value) -> uuid::Uuid {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id.as_str().expect("a global id"))
        .expect("base64");
    String::from_utf8(decoded)
        .expect("text")
        .split_once(':')
        .expect("kind:uuid")
        .1
        .parse()
        .expect("a uuid")
}

/// Signs `who` in at a running server; returns the access token.
pub async fn login_at(address: &str, who: &str) -> String {
    let response: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .json(&json!({
            "query": "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken } }",
            "variables": { "input": { "email": email_of(who), "password": PASSWORD } },
        }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON GraphQL response");
    response["data"]["authLogin"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{response}"))
        .to_string()
}

/// Writes a public comment on `ticket` at a running server; asserts it was written.
pub async fn comment_at(address: &str, token: &str, ticket: uuid::Uuid, body: &str) {
    let response: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({
            "query": "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }",
            "variables": { "input": { "ticketId": gid("Ticket", ticket), "body": body } },
        }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .expect("a JSON GraphQL response");
    assert!(
        response["data"]["commentCreate"]["comment"].is_object(),
        "{response}"
    );
}
