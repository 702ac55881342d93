//! One DataLoader per relationship, created per request (never shared between requests, so a
//! cached row is never older than the request and never crosses viewers).
//!
//! Each batches the `load` calls made in the same tick into one statement. Where a parent knows
//! its children (a page of tickets knows their requesters), it loads the whole level at once
//! with `load_many`, so the statement count holds under concurrent load, when resolvers of one
//! level may not all fall into the same batching window.

mod attachment;
mod comment;
mod level;
mod membership;
mod organization;
mod sla;
mod ticket;
mod user;

use std::hash::Hash;
use std::sync::Arc;

use crate::graphql::context::Viewer;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use sea_orm::DatabaseConnection;

pub use attachment::{AttachmentCountLoader, AttachmentLoader, AttachmentsOf};
pub use comment::{CommentCountLoader, CommentWindow, CommentWindowLoader, HistoryWindowLoader};
pub use level::{organization_ticket_page, prefetch_organizations, ticket_page};
pub use membership::{MembersLoader, UserOrganizationsLoader};
pub use organization::OrganizationLoader;
pub use sla::MeasureLoader;
pub use ticket::{
    OrganizationTicketCountLoader, OrganizationTicketsLoader, PerOrganization, TicketLoader,
    ticket_count_spec, ticket_page_spec,
};
pub use user::UserLoader;

/// What every loader fails with: the service error, shared between the waiting resolvers.
pub type LoadError = Arc<service::Error>;

pub struct Loaders {
    pub users: DataLoader<UserLoader, HashMapCache>,
    pub organizations: DataLoader<OrganizationLoader, HashMapCache>,
    pub comment_windows: DataLoader<CommentWindowLoader, HashMapCache>,
    pub comment_counts: DataLoader<CommentCountLoader, HashMapCache>,
    pub history_windows: DataLoader<HistoryWindowLoader, HashMapCache>,
    pub members: DataLoader<MembersLoader, HashMapCache>,
    pub tickets: DataLoader<TicketLoader, HashMapCache>,
    pub user_organizations: DataLoader<UserOrganizationsLoader, HashMapCache>,
    pub measures: DataLoader<MeasureLoader, HashMapCache>,
    pub organization_tickets: DataLoader<OrganizationTicketsLoader, HashMapCache>,
    pub organization_ticket_counts: DataLoader<OrganizationTicketCountLoader, HashMapCache>,
    pub attachments: DataLoader<AttachmentLoader, HashMapCache>,
    pub attachment_counts: DataLoader<AttachmentCountLoader, HashMapCache>,
}

impl Loaders {
    /// A set for a long-lived connection: batching, but no cache, so nothing goes stale.
    pub fn uncached(db: &DatabaseConnection, viewer: &Viewer) -> Self {
        let loaders = Self::new(db, viewer);
        loaders.users.enable_all_cache(false);
        loaders.organizations.enable_all_cache(false);
        loaders.comment_windows.enable_all_cache(false);
        loaders.comment_counts.enable_all_cache(false);
        loaders.history_windows.enable_all_cache(false);
        loaders.members.enable_all_cache(false);
        loaders.tickets.enable_all_cache(false);
        loaders.user_organizations.enable_all_cache(false);
        loaders.measures.enable_all_cache(false);
        loaders.organization_tickets.enable_all_cache(false);
        loaders.organization_ticket_counts.enable_all_cache(false);
        loaders.attachments.enable_all_cache(false);
        loaders.attachment_counts.enable_all_cache(false);
        loaders
    }

    /// A fresh set for one request by `viewer` (read at each load, so a viewer who signs in
    /// during the request, or a socket's account re-read before a push, is the one loaded for).
    pub fn new(db: &DatabaseConnection, viewer: &Viewer) -> Self {
        fn loader<T>(loader: T) -> DataLoader<T, HashMapCache>
        where
            T: Send + Sync + 'static,
        {
            DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
        }
        Self {
            users: loader(UserLoader { db: db.clone() }),
            organizations: loader(OrganizationLoader { db: db.clone() }),
            comment_windows: loader(CommentWindowLoader {
                db: db.clone(),
                viewer: viewer.clone(),
            }),
            comment_counts: loader(CommentCountLoader {
                db: db.clone(),
                viewer: viewer.clone(),
            }),
            history_windows: loader(HistoryWindowLoader { db: db.clone() }),
            members: loader(MembersLoader { db: db.clone() }),
            tickets: loader(TicketLoader {
                db: db.clone(),
                viewer: viewer.clone(),
            }),
            user_organizations: loader(UserOrganizationsLoader { db: db.clone() }),
            measures: loader(MeasureLoader { db: db.clone() }),
            organization_tickets: loader(OrganizationTicketsLoader {
                db: db.clone(),
                viewer: viewer.clone(),
            }),
            organization_ticket_counts: loader(OrganizationTicketCountLoader {
                db: db.clone(),
                viewer: viewer.clone(),
            }),
            attachments: loader(AttachmentLoader {
                db: db.clone(),
                viewer: viewer.clone(),
            }),
            attachment_counts: loader(AttachmentCountLoader {
                db: db.clone(),
                viewer: viewer.clone(),
            }),
        }
    }
}

/// Loads a whole level's `keys` now, in one call of the loader, shows each value found to
/// `inspect` (which gathers the keys of the next level), and keeps them in the request's cache
/// for the field resolvers below. For a caller that knows every key of the level (a page knows
/// its tickets' requesters): a `load_many` would wait out the loader's batching window first
/// (a millisecond, on a timer thread), which is most of a small request's time.
pub async fn prefetch<K, T>(
    loader: &DataLoader<T, HashMapCache>,
    keys: impl IntoIterator<Item = K>,
    inspect: impl FnMut(&T::Value),
) -> Result<(), T::Error>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    T: Loader<K>,
{
    let mut seen = std::collections::HashSet::new();
    let keys: Vec<K> = keys
        .into_iter()
        .filter(|k| seen.insert(k.clone()))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let found = loader.loader().load(&keys).await?;
    found.values().for_each(inspect);
    loader.feed_many(found).await;
    Ok(())
}
