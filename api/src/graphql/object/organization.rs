use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use entity::organization;

use crate::graphql::id::{Kind, encode};

/// A customer organization: its members raise tickets, its agents work them.
#[derive(Clone)]
pub struct Organization(pub organization::Model);

impl From<organization::Model> for Organization {
    fn from(model: organization::Model) -> Self {
        Self(model)
    }
}

#[Object]
impl Organization {
    pub async fn id(&self) -> ID {
        encode(Kind::Organization, self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }

    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }

    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
