use async_graphql::{Context, Object, Result};
use sea_orm::DatabaseConnection;

use crate::graphql::error::ResultExt;

pub struct ServerInfo;

/// Facts about the running server.
#[Object]
impl ServerInfo {
    /// The server's version (semantic versioning).
    async fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    /// The database backend: `sqlite` or `postgres`.
    async fn database(&self, ctx: &Context<'_>) -> Result<&'static str> {
        let db = ctx.data::<DatabaseConnection>()?;
        Ok(service::db::Backend::of(db).name())
    }

    /// The newest schema migration applied to the database, or null on an empty database.
    async fn schema_version(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let db = ctx.data::<DatabaseConnection>()?;
        service::db::schema_version(db).await.gql()
    }
}
