use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use entity::comment;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::LoadError;
use crate::graphql::context::Viewer;

/// The first `first` comments (or history entries) of a ticket after a position, as the viewer
/// may see them: keys that differ only in their ticket share a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommentWindow {
    pub ticket_id: Uuid,
    pub first: u64,
    pub after: After,
}

/// The (created at, id) position a window starts after; from the start when `None`.
pub type After = Option<(DateTime<Utc>, Uuid)>;

/// Keys grouped by what they ask apart from the ticket.
fn by_window(keys: &[CommentWindow]) -> HashMap<(u64, After), Vec<Uuid>> {
    let mut groups: HashMap<_, Vec<Uuid>> = HashMap::new();
    for key in keys {
        groups
            .entry((key.first, key.after))
            .or_default()
            .push(key.ticket_id);
    }
    groups
}

pub struct CommentWindowLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<CommentWindow> for CommentWindowLoader {
    /// Shared: a page's planned build takes every window of the level from the cache.
    type Value = std::sync::Arc<[comment::Model]>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CommentWindow],
    ) -> Result<HashMap<CommentWindow, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        // One statement per distinct window; a level asks for one.
        let mut out = HashMap::new();
        for ((first, after), ticket_ids) in by_window(keys) {
            let mut found =
                service::comment::first_of_tickets(&self.db, actor, &ticket_ids, first, after)
                    .await
                    .map_err(LoadError::new)?;
            for ticket_id in ticket_ids {
                let comments = found.remove(&ticket_id).unwrap_or_default();
                let key = CommentWindow {
                    ticket_id,
                    first,
                    after,
                };
                out.insert(key, comments.into());
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
        let mut out = HashMap::new();
        for ((first, after), ticket_ids) in by_window(keys) {
            let mut found = service::ticket::query::history_first_of_tickets(
                &self.db,
                &ticket_ids,
                first,
                after,
            )
            .await
            .map_err(LoadError::new)?;
            for ticket_id in ticket_ids {
                let entries = found.remove(&ticket_id).unwrap_or_default();
                let key = CommentWindow {
                    ticket_id,
                    first,
                    after,
                };
                out.insert(key, entries);
            }
        }
        Ok(out)
    }
}
