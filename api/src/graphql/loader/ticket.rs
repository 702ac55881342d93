use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::ticket;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::LoadError;
use crate::graphql::context::Viewer;

/// Tickets by id, as the viewer may see them now (a ticket out of reach is simply absent).
pub struct TicketLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<Uuid> for TicketLoader {
    type Value = ticket::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        let found = service::ticket::query::by_ids(&self.db, actor, keys)
            .await
            .map_err(LoadError::new)?;
        Ok(found.into_iter().map(|t| (t.id, t)).collect())
    }
}
