use std::collections::HashMap;
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

/// The same page of tickets, asked of each organization of a level
/// (`organizations { nodes { tickets(first: 5) { ... } } }`).
#[derive(Clone)]
pub struct OrganizationTickets {
    pub organization_id: Uuid,
    pub spec: Arc<TicketSpec>,
}

/// What every organization of a level asks for; keys with the same spec share a statement.
pub struct TicketSpec {
    /// Tells specs apart: the arguments, written out.
    key: String,
    pub filter: TicketFilter,
    pub order: TicketOrder,
    pub page: PageRequest,
}

impl TicketSpec {
    pub fn new(mut filter: TicketFilter, order: TicketOrder, page: PageRequest) -> Arc<Self> {
        filter.organization_id = None;
        Arc::new(Self {
            key: format!("{filter:?}|{order:?}|{page:?}"),
            filter,
            order,
            page,
        })
    }
}

impl PartialEq for OrganizationTickets {
    fn eq(&self, other: &Self) -> bool {
        self.organization_id == other.organization_id && self.spec.key == other.spec.key
    }
}

impl Eq for OrganizationTickets {}

impl Hash for OrganizationTickets {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.organization_id.hash(state);
        self.spec.key.hash(state);
    }
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
        for (spec, organization_ids) in by_spec(keys, |k| (&k.spec.key, &k.spec, k.organization_id))
        {
            let mut pages = service::ticket::query::list_per_organization(
                &self.db,
                actor,
                &spec.filter,
                spec.order,
                &spec.page,
                &organization_ids,
            )
            .await
            .map_err(LoadError::new)?;
            for organization_id in organization_ids {
                if let Some(page) = pages.remove(&organization_id) {
                    let key = OrganizationTickets {
                        organization_id,
                        spec: spec.clone(),
                    };
                    out.insert(key, page);
                }
            }
        }
        Ok(out)
    }
}

/// How many tickets match a filter in each organization of a level
/// (`organizations { nodes { tickets { totalCount } } }`).
#[derive(Clone)]
pub struct OrganizationTicketCount {
    pub organization_id: Uuid,
    pub filter: Arc<(String, TicketFilter)>,
}

impl OrganizationTicketCount {
    pub fn new(organization_id: Uuid, mut filter: TicketFilter) -> Self {
        filter.organization_id = None;
        Self {
            organization_id,
            filter: Arc::new((format!("{filter:?}"), filter)),
        }
    }
}

impl PartialEq for OrganizationTicketCount {
    fn eq(&self, other: &Self) -> bool {
        self.organization_id == other.organization_id && self.filter.0 == other.filter.0
    }
}

impl Eq for OrganizationTicketCount {}

impl Hash for OrganizationTicketCount {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.organization_id.hash(state);
        self.filter.0.hash(state);
    }
}

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
        for (filter, organization_ids) in
            by_spec(keys, |k| (&k.filter.0, &k.filter, k.organization_id))
        {
            let counts = service::ticket::query::count_per_organization(
                &self.db,
                actor,
                &filter.1,
                &organization_ids,
            )
            .await
            .map_err(LoadError::new)?;
            for (organization_id, count) in counts {
                let key = OrganizationTicketCount {
                    organization_id,
                    filter: filter.clone(),
                };
                out.insert(key, count);
            }
        }
        Ok(out)
    }
}

/// Keys grouped by what they ask (`part` gives a key's spec text, its spec and its parent).
fn by_spec<'k, K, S: Clone + 'k>(
    keys: &'k [K],
    part: impl Fn(&'k K) -> (&'k String, &'k S, Uuid),
) -> Vec<(S, Vec<Uuid>)> {
    let mut groups: Vec<(&String, S, Vec<Uuid>)> = Vec::new();
    for key in keys {
        let (text, spec, parent) = part(key);
        match groups.iter_mut().find(|(t, _, _)| *t == text) {
            Some((_, _, parents)) => parents.push(parent),
            None => groups.push((text, spec.clone(), vec![parent])),
        }
    }
    groups
        .into_iter()
        .map(|(_, spec, parents)| (spec, parents))
        .collect()
}
