//! What the end-to-end tests share, by concern: the database a test runs on (`database`), the
//! server in the test process (`app`), the binary as a child process (`process`), fixtures
//! (`world`), and speaking GraphQL to a server (`graphql`).
//!
//! Environment:
//! - `HELPDESK_TEST_DATABASE_URL`: a PostgreSQL URL with the right to create databases. Each
//!   test then gets its own uniquely named database, dropped when the test ends. Unset: each
//!   test gets a temporary SQLite file.
//! - `HELPDESK_TEST_REDIS_URL`: a Redis server the app is configured with.
//!
//! A configured server that does not answer fails the test with a message saying so; nothing
//! falls back silently.

mod app;
mod database;
mod graphql;
mod process;
mod world;

pub use app::*;
pub use database::*;
pub use graphql::*;
pub use process::*;
pub use world::*;
