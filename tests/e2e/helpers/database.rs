//! The database a test runs on: a fresh PostgreSQL database per test when
//! `HELPDESK_TEST_DATABASE_URL` is set, else a temporary SQLite file; and the Redis server of
//! `HELPDESK_TEST_REDIS_URL`.

use sea_orm::{ConnectionTrait, DatabaseConnection};
use tempfile::TempDir;

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
