use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::organization;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::LoadError;

/// Organizations by id.
pub struct OrganizationLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for OrganizationLoader {
    type Value = std::sync::Arc<organization::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let rows = service::organization::by_ids(&self.db, keys)
            .await
            .map_err(LoadError::new)?;
        Ok(rows
            .into_iter()
            .map(|o| (o.id, std::sync::Arc::new(o)))
            .collect())
    }
}
