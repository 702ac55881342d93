use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::ticket;
use sea_orm::DatabaseConnection;
use service::page::PageRequest;
use service::ticket::query::{TicketFilter, TicketOrder, TicketPage};
use uuid::Uuid;

use super::LoadError;
use crate::graphql::context::Viewer;

/// Tickets by id, as the viewer may see them now (a ticket out of reach is simply absent).
pub struct TicketLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<Uuid> for TicketLoader {
    type Value = ticket::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        let found = service::ticket::query::by_ids(&self.db, actor, keys)
            .await
            .map_err(LoadError::new)?;
        Ok(found.into_iter().map(|t| (t.id, t)).collect())
    }
}

/// What each organization of a level is asked (the same for all of them), with the parent it
/// is asked of: keys with the same spec share a statement.
pub struct PerOrganization<S> {
    pub organization_id: Uuid,
    pub spec: Arc<Spec<S>>,
}

/// Arguments asked of every parent of a level, and their text, which tells specs apart.
pub struct Spec<S> {
    key: String,
    pub value: S,
}

impl<S: Debug> Spec<S> {
    pub fn new(value: S) -> Arc<Self> {
        Arc::new(Self {
            key: format!("{value:?}"),
            value,
        })
    }
}

impl<S> PerOrganization<S> {
    pub fn of(organization_id: Uuid, spec: &Arc<Spec<S>>) -> Self {
        Self {
            organization_id,
            spec: spec.clone(),
        }
    }
}

impl<S> Clone for PerOrganization<S> {
    fn clone(&self) -> Self {
        Self::of(self.organization_id, &self.spec)
    }
}

impl<S> PartialEq for PerOrganization<S> {
    fn eq(&self, other: &Self) -> bool {
        self.organization_id == other.organization_id && self.spec.key == other.spec.key
    }
}

impl<S> Eq for PerOrganization<S> {}

impl<S> Hash for PerOrganization<S> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.organization_id.hash(state);
        self.spec.key.hash(state);
    }
}

/// The keys grouped by spec, each with the organizations it is asked of.
fn by_spec<S>(keys: &[PerOrganization<S>]) -> Vec<(Arc<Spec<S>>, Vec<Uuid>)> {
    let mut groups: Vec<(Arc<Spec<S>>, Vec<Uuid>)> = Vec::new();
    for key in keys {
        match groups.iter_mut().find(|(spec, _)| spec.key == key.spec.key) {
            Some((_, parents)) => parents.push(key.organization_id),
            None => groups.push((key.spec.clone(), vec![key.organization_id])),
        }
    }
    groups
}

/// The same page of tickets, asked of each organization of a level
/// (`organizations { nodes { tickets(first: 5) { ... } } }`); the filter's organization is
/// each key's.
pub type OrganizationTickets = PerOrganization<(TicketFilter, TicketOrder, PageRequest)>;

/// How many tickets match a filter, asked of each organization of a level
/// (`organizations { nodes { tickets { totalCount } } }`).
pub type OrganizationTicketCount = PerOrganization<TicketFilter>;

/// The spec of a page of tickets asked of a level: the filter without its organization.
pub fn ticket_page_spec(
    mut filter: TicketFilter,
    order: TicketOrder,
    page: PageRequest,
) -> Arc<Spec<(TicketFilter, TicketOrder, PageRequest)>> {
    filter.organization_id = None;
    Spec::new((filter, order, page))
}

/// The spec of a ticket count asked of a level: the filter without its organization.
pub fn ticket_count_spec(mut filter: TicketFilter) -> Arc<Spec<TicketFilter>> {
    filter.organization_id = None;
    Spec::new(filter)
}

/// A page of each organization's tickets, for a whole level in one statement per spec.
pub struct OrganizationTicketsLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<OrganizationTickets> for OrganizationTicketsLoader {
    type Value = TicketPage;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationTickets],
    ) -> Result<HashMap<OrganizationTickets, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        let mut out = HashMap::new();
        for (spec, organization_ids) in by_spec(keys) {
            let (filter, order, page) = &spec.value;
            let mut pages = service::ticket::query::list_per_organization(
                &self.db,
                actor,
                filter,
                *order,
                page,
                &organization_ids,
            )
            .await
            .map_err(LoadError::new)?;
            for organization_id in organization_ids {
                if let Some(page) = pages.remove(&organization_id) {
                    out.insert(PerOrganization::of(organization_id, &spec), page);
                }
            }
        }
        Ok(out)
    }
}

/// The ticket count of each organization of a level, in one statement per filter.
pub struct OrganizationTicketCountLoader {
    pub db: DatabaseConnection,
    pub viewer: Viewer,
}

impl Loader<OrganizationTicketCount> for OrganizationTicketCountLoader {
    type Value = u64;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[OrganizationTicketCount],
    ) -> Result<HashMap<OrganizationTicketCount, Self::Value>, Self::Error> {
        let Some(actor) = &self.viewer.current() else {
            return Ok(HashMap::new());
        };
        let mut out = HashMap::new();
        for (spec, organization_ids) in by_spec(keys) {
            let counts = service::ticket::query::count_per_organization(
                &self.db,
                actor,
                &spec.value,
                &organization_ids,
            )
            .await
            .map_err(LoadError::new)?;
            for (organization_id, count) in counts {
                out.insert(PerOrganization::of(organization_id, &spec), count);
            }
        }
        Ok(out)
    }
}
