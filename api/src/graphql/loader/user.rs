use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::user;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::LoadError;

/// Users by id: requesters, assignees, comment authors, history actors.
pub struct UserLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for UserLoader {
    type Value = std::sync::Arc<user::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let users = service::user::by_ids(&self.db, keys)
            .await
            .map_err(LoadError::new)?;
        Ok(users
            .into_iter()
            .map(|u| (u.id, std::sync::Arc::new(u)))
            .collect())
    }
}
