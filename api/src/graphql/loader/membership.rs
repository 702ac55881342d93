use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::{organization, user};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::LoadError;

/// The members of an organization.
pub struct MembersLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for MembersLoader {
    type Value = Vec<user::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut found = service::organization::members_of(&self.db, keys)
            .await
            .map_err(LoadError::new)?;
        Ok(keys
            .iter()
            .map(|k| (*k, found.remove(k).unwrap_or_default()))
            .collect())
    }
}

/// The organizations of a user.
pub struct UserOrganizationsLoader {
    pub db: DatabaseConnection,
}

impl Loader<Uuid> for UserOrganizationsLoader {
    type Value = Vec<organization::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut found = service::organization::of_users(&self.db, keys)
            .await
            .map_err(LoadError::new)?;
        Ok(keys
            .iter()
            .map(|k| (*k, found.remove(k).unwrap_or_default()))
            .collect())
    }
}
