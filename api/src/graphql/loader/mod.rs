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

/// The hash of the loaders' caches and of [`Seen`]: foldhash, seeded per process, rather than
/// the standard SipHash, which hashed every id of a dashboard read several times over (its
/// keys are ids read out of the database, and a request holds a bounded number of them).
pub type Hasher = foldhash::fast::RandomState;

/// A request's loader cache.
pub type Cache = HashMapCache<Hasher>;
use sea_orm::DatabaseConnection;

pub use attachment::{AttachmentCountLoader, AttachmentLoader, AttachmentsOf};
pub use comment::{
    After, CommentCountLoader, CommentWindow, CommentWindowLoader, HistoryWindowLoader,
};
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
    pub users: DataLoader<UserLoader, Cache>,
    pub organizations: DataLoader<OrganizationLoader, Cache>,
    pub comment_windows: DataLoader<CommentWindowLoader, Cache>,
    pub comment_counts: DataLoader<CommentCountLoader, Cache>,
    pub history_windows: DataLoader<HistoryWindowLoader, Cache>,
    pub members: DataLoader<MembersLoader, Cache>,
    pub tickets: DataLoader<TicketLoader, Cache>,
    pub user_organizations: DataLoader<UserOrganizationsLoader, Cache>,
    pub measures: DataLoader<MeasureLoader, Cache>,
    pub organization_tickets: DataLoader<OrganizationTicketsLoader, Cache>,
    pub organization_ticket_counts: DataLoader<OrganizationTicketCountLoader, Cache>,
    pub attachments: DataLoader<AttachmentLoader, Cache>,
    pub attachment_counts: DataLoader<AttachmentCountLoader, Cache>,
    /// The people and organizations a level loaded, for the fields below it ([`Seen`]).
    pub seen_users: Seen<entity::user::Model>,
    pub seen_organizations: Seen<entity::organization::Model>,
}

/// Rows a level loaded at once (the requesters, assignees and comment authors of a page of
/// tickets, their organizations), by id, found again by each field below it without the
/// DataLoader's round: a lock, a map built per call and three hashings of the key, which for
/// the ~400 people and organizations of a dashboard read was about a fifteenth of its CPU.
/// Kept only while the loaders cache (never for a long-lived connection's).
pub struct Seen<M> {
    by_id: Option<std::sync::Mutex<std::collections::HashMap<uuid::Uuid, Arc<M>, Hasher>>>,
}

/// Rows by id.
pub type ById<M> = std::collections::HashMap<uuid::Uuid, Arc<M>, Hasher>;

/// `ids` as a level kept them, and the others through `loader`, in one call.
async fn of<M, T>(
    seen: &Seen<M>,
    loader: &DataLoader<T, Cache>,
    ids: impl IntoIterator<Item = uuid::Uuid>,
) -> Result<ById<M>, LoadError>
where
    T: Loader<uuid::Uuid, Value = Arc<M>, Error = LoadError>,
    M: Send + Sync + 'static,
{
    let mut found = ById::default();
    let mut missing = Vec::new();
    if let Some(by_id) = &seen.by_id {
        let by_id = by_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for id in ids {
            match by_id.get(&id) {
                Some(row) => {
                    found.insert(id, row.clone());
                }
                None => missing.push(id),
            }
        }
    } else {
        missing.extend(ids);
    }
    if !missing.is_empty() {
        found.extend(Box::pin(loader.load_many(missing)).await?);
    }
    Ok(found)
}

impl<M> Seen<M> {
    fn new(keeps: bool) -> Self {
        Self {
            by_id: keeps.then(Default::default),
        }
    }

    /// Keeps `row` for the fields below the level.
    pub fn keep(&self, id: uuid::Uuid, row: &Arc<M>) {
        if let Some(by_id) = &self.by_id {
            by_id
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(id, row.clone());
        }
    }

    fn get(&self, id: &uuid::Uuid) -> Option<Arc<M>> {
        let by_id = self.by_id.as_ref()?;
        by_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .cloned()
    }
}

impl Loaders {
    /// A set for a long-lived connection: batching, but no cache, so nothing goes stale.
    pub fn uncached(db: &DatabaseConnection, viewer: &Viewer) -> Self {
        let mut loaders = Self::new(db, viewer);
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
        loaders.seen_users = Seen::new(false);
        loaders.seen_organizations = Seen::new(false);
        loaders
    }

    /// The user with this id: as a level loaded it ([`Seen`]), else through the loader.
    pub async fn user(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<Arc<entity::user::Model>>, LoadError> {
        match self.seen_users.get(&id) {
            Some(user) => Ok(Some(user)),
            // Boxed: the loader's future would otherwise size every field future that names
            // a person (requester, assignee, author), found here or not.
            None => Box::pin(self.users.load_one(id)).await,
        }
    }

    /// The users with these ids, as [`Loaders::user`] finds each, those a level did not load
    /// in one call of the loader.
    pub async fn users_of(
        &self,
        ids: impl IntoIterator<Item = uuid::Uuid>,
    ) -> Result<ById<entity::user::Model>, LoadError> {
        of(&self.seen_users, &self.users, ids).await
    }

    /// The organizations with these ids, as [`Loaders::organization`] finds each.
    pub async fn organizations_of(
        &self,
        ids: impl IntoIterator<Item = uuid::Uuid>,
    ) -> Result<ById<entity::organization::Model>, LoadError> {
        of(&self.seen_organizations, &self.organizations, ids).await
    }

    /// The organization with this id: as a level loaded it ([`Seen`]), else through the
    /// loader.
    pub async fn organization(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<Arc<entity::organization::Model>>, LoadError> {
        match self.seen_organizations.get(&id) {
            Some(organization) => Ok(Some(organization)),
            None => Box::pin(self.organizations.load_one(id)).await,
        }
    }

    /// A fresh set for one request by `viewer` (read at each load, so a viewer who signs in
    /// during the request, or a socket's account re-read before a push, is the one loaded for).
    pub fn new(db: &DatabaseConnection, viewer: &Viewer) -> Self {
        fn loader<T>(loader: T) -> DataLoader<T, Cache>
        where
            T: Send + Sync + 'static,
        {
            DataLoader::with_cache(loader, tokio::spawn, Cache::new())
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
            seen_users: Seen::new(true),
            seen_organizations: Seen::new(true),
        }
    }
}

/// Loads a whole level's `keys` now, in one call of the loader, shows each value found to
/// `inspect` (which gathers the keys of the next level), and keeps them in the request's cache
/// for the field resolvers below. For a caller that knows every key of the level (a page knows
/// its tickets' requesters): a `load_many` would wait out the loader's batching window first
/// (a millisecond, on a timer thread), which is most of a small request's time.
pub async fn prefetch<K, T>(
    loader: &DataLoader<T, Cache>,
    keys: impl IntoIterator<Item = K>,
    inspect: impl FnMut(&T::Value),
) -> Result<(), T::Error>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    T: Loader<K>,
{
    let mut seen = std::collections::HashSet::with_hasher(Hasher::default());
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Loaders;
    use crate::graphql::context::Viewer;

    fn person() -> Arc<entity::user::Model> {
        let at = chrono::Utc::now();
        Arc::new(entity::user::Model {
            id: uuid::Uuid::new_v4(),
            email: "someone@example.com".into(),
            name: "Someone".into(),
            password_hash: String::new(),
            role: entity::enums::Role::Client,
            is_approved: true,
            is_locked: false,
            lock_reason: None,
            locked_until: None,
            failed_login_count: 0,
            last_login_at: None,
            session_epoch: 0,
            created_at: at,
            updated_at: at,
        })
    }

    /// A request's loaders find again what a level loaded; a long-lived connection's keep
    /// nothing, so a later push reads the row as it is then.
    #[tokio::test]
    async fn rows_a_level_loaded_are_kept_only_for_one_request() {
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("sqlite");
        let viewer = Viewer::signed_in(None);
        let someone = person();

        let request = Loaders::new(&db, &viewer);
        request.seen_users.keep(someone.id, &someone);
        let found = request.user(someone.id).await.expect("kept, not read");
        assert_eq!(found.as_deref(), Some(&*someone));

        let connection = Loaders::uncached(&db, &viewer);
        connection.seen_users.keep(someone.id, &someone);
        assert!(connection.seen_users.get(&someone.id).is_none());
    }
}
