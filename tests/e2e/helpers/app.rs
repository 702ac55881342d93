//! `TestApp`: the real server on a random port over a fresh, migrated database, with the
//! settings, keys and object storage tests run with.

use std::time::Duration;

use api::config::{
    AttachmentSettings, AuthSettings, DataKeySettings, DatabaseSettings, JobSettings,
    RedisSettings, ServerSettings, StorageSettings, WebhookSettings,
};
use api::{AppState, Application, Settings};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::*;

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
