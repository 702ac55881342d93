use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::{business_calendar, sla_policy};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
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
        let policies = sla_policy::Entity::find()
            .filter(sla_policy::Column::Id.is_in(keys.to_vec()))
            .all(&self.db)
            .await
            .map_err(|e| LoadError::new(e.into()))?;
        // The calendars of all of them in one statement.
        let calendar_ids: Vec<Uuid> = policies
            .iter()
            .filter_map(|p| p.business_calendar_id)
            .collect();
        let calendars: HashMap<Uuid, business_calendar::Model> = if calendar_ids.is_empty() {
            HashMap::new()
        } else {
            business_calendar::Entity::find()
                .filter(business_calendar::Column::Id.is_in(calendar_ids))
                .all(&self.db)
                .await
                .map_err(|e| LoadError::new(e.into()))?
                .into_iter()
                .map(|c| (c.id, c))
                .collect()
        };
        let mut measures = HashMap::new();
        for policy in policies {
            let hours = match policy
                .business_calendar_id
                .and_then(|id| calendars.get(&id))
            {
                Some(calendar) => {
                    service::sla::hours_of_calendar(calendar).map_err(LoadError::new)?
                }
                None => service::sla::Hours::Always,
            };
            measures.insert(policy.id, service::sla::Measure { policy, hours });
        }
        Ok(measures)
    }
}
