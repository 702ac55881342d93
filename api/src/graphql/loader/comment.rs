use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use entity::comment;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::LoadError;
use crate::graphql::context::Viewer;

/// The first `first` comments of a ticket, as the viewer may see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommentWindow {
    pub ticket_id: Uuid,
    pub first: u64,
}

pub struct CommentWindowLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<CommentWindow> for CommentWindowLoader {
    type Value = Vec<comment::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CommentWindow],
    ) -> Result<HashMap<CommentWindow, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        // One statement per distinct window size; a page asks for one size.
        let mut by_size: HashMap<u64, Vec<Uuid>> = HashMap::new();
        for key in keys {
            by_size.entry(key.first).or_default().push(key.ticket_id);
        }
        let mut out = HashMap::new();
        for (first, ticket_ids) in by_size {
            let mut found = service::comment::first_of_tickets(&self.db, actor, &ticket_ids, first)
                .await
                .map_err(LoadError::new)?;
            for ticket_id in ticket_ids {
                let comments = found.remove(&ticket_id).unwrap_or_default();
                out.insert(CommentWindow { ticket_id, first }, comments);
            }
        }
        Ok(out)
    }
}

/// How many comments the viewer may see on a ticket.
pub struct CommentCountLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<Uuid> for CommentCountLoader {
    type Value = i64;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        let counts = service::comment::counts_of_tickets(&self.db, actor, keys)
            .await
            .map_err(LoadError::new)?;
        Ok(keys
            .iter()
            .map(|id| (*id, counts.get(id).copied().unwrap_or(0)))
            .collect())
    }
}

/// The first `first` history entries of a ticket (the ticket is readable: it was loaded
/// through the viewer's scope).
pub struct HistoryWindowLoader {
    pub db: DatabaseConnection,
}

impl Loader<CommentWindow> for HistoryWindowLoader {
    type Value = Vec<entity::ticket_history::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CommentWindow],
    ) -> Result<HashMap<CommentWindow, Self::Value>, Self::Error> {
        let mut by_size: HashMap<u64, Vec<Uuid>> = HashMap::new();
        for key in keys {
            by_size.entry(key.first).or_default().push(key.ticket_id);
        }
        let mut out = HashMap::new();
        for (first, ticket_ids) in by_size {
            let mut found =
                service::ticket::query::history_first_of_tickets(&self.db, &ticket_ids, first)
                    .await
                    .map_err(LoadError::new)?;
            for ticket_id in ticket_ids {
                let entries = found.remove(&ticket_id).unwrap_or_default();
                out.insert(CommentWindow { ticket_id, first }, entries);
            }
        }
        Ok(out)
    }
}
