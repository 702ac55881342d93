//! The helpdesk server: configuration, telemetry, the GraphQL schema, the axum router and the
//! server's start and graceful shutdown. The domain lives in the `service` crate; this crate
//! only translates between HTTP/GraphQL and it.

pub mod config;
pub mod events;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::Settings;
pub use startup::{Application, StartupError};
pub use state::AppState;
