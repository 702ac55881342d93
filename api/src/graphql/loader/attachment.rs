use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::attachment;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::LoadError;
use crate::graphql::context::Viewer;

/// Which files of what the viewer may see: the ticket's (all of them, also those on its
/// comments) or one comment's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachmentsOf {
    Ticket(Uuid),
    Comment(Uuid),
}

/// The files the viewer may see on tickets and comments they were shown (one statement for
/// tickets, one for comments).
pub struct AttachmentLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<AttachmentsOf> for AttachmentLoader {
    type Value = Vec<attachment::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[AttachmentsOf],
    ) -> Result<HashMap<AttachmentsOf, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        let (mut tickets, mut comments) = (Vec::new(), Vec::new());
        for key in keys {
            match key {
                AttachmentsOf::Ticket(id) => tickets.push(*id),
                AttachmentsOf::Comment(id) => comments.push(*id),
            }
        }
        let mut out = HashMap::new();
        if !tickets.is_empty() {
            let mut found = service::attachment::of_tickets(&self.db, actor, &tickets)
                .await
                .map_err(LoadError::new)?;
            for id in tickets {
                out.insert(
                    AttachmentsOf::Ticket(id),
                    found.remove(&id).unwrap_or_default(),
                );
            }
        }
        if !comments.is_empty() {
            let mut found = service::attachment::of_comments(&self.db, actor, &comments)
                .await
                .map_err(LoadError::new)?;
            for id in comments {
                out.insert(
                    AttachmentsOf::Comment(id),
                    found.remove(&id).unwrap_or_default(),
                );
            }
        }
        Ok(out)
    }
}

/// How many files the viewer may see on a ticket.
pub struct AttachmentCountLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<Uuid> for AttachmentCountLoader {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        let counts = service::attachment::counts_of_tickets(&self.db, actor, keys)
            .await
            .map_err(LoadError::new)?;
        Ok(keys
            .iter()
            .map(|id| (*id, counts.get(id).copied().unwrap_or(0)))
            .collect())
    }
}
