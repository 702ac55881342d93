use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::LoadError;

/// SLA policies with the working hours they count, by policy id.
pub struct MeasureLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for MeasureLoader {
    type Value = service::sla::Measure;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        service::sla::measures_of(&self.db, keys)
            .await
            .map_err(LoadError::new)
    }
}
