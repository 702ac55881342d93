use std::collections::HashMap;

use async_graphql::{Context, ID, Object, Result};
use uuid::Uuid;

use crate::graphql::context::{actor, db, loaders};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, decode};
use crate::graphql::object::attachment::Attachment;
use crate::graphql::object::node::Node;
use crate::graphql::object::organization::Organization;
use crate::graphql::object::ticket::Ticket;
use crate::graphql::object::user::User;

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Anything by its global ID; null when it does not exist or you may not see it.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The global ID (`id` of any `Node`).")] id: ID,
    ) -> Result<Option<Node>> {
        let mut found = fetch(ctx, std::slice::from_ref(&id)).await?;
        Ok(found.remove(&id.0))
    }

    /// Several nodes by global ID, in the order asked; null for each one that does not exist
    /// or you may not see. At most 100.
    #[graphql(complexity = "ids.len().max(1) * child_complexity + 1")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_items = 100), desc = "The global IDs, at most 100.")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>> {
        let mut found = fetch(ctx, &ids).await?;
        Ok(ids.iter().map(|id| found.remove(&id.0)).collect())
    }
}

/// Loads the nodes behind `ids`, one statement per kind.
async fn fetch(ctx: &Context<'_>, ids: &[ID]) -> Result<HashMap<String, Node>> {
    let viewer = &actor(ctx)?;
    let mut by_kind: HashMap<Kind, Vec<(String, Uuid)>> = HashMap::new();
    for id in ids {
        if let Some((kind, uuid)) = decode(id) {
            by_kind.entry(kind).or_default().push((id.0.clone(), uuid));
        }
    }
    let mut out = HashMap::new();
    for (kind, wanted) in by_kind {
        let uuids: Vec<Uuid> = wanted.iter().map(|(_, u)| *u).collect();
        let nodes: HashMap<Uuid, Node> = match kind {
            Kind::Ticket => service::ticket::query::by_ids(db(ctx)?, viewer, &uuids)
                .await
                .gql()?
                .into_iter()
                .map(|t| (t.id, Node::Ticket(Ticket(t))))
                .collect(),
            // The same rule as `user(id)`: staff see anyone, clients themselves.
            Kind::User => loaders(ctx)?
                .users
                .load_many(
                    uuids
                        .iter()
                        .copied()
                        .filter(|id| service::user::can_read(viewer, *id)),
                )
                .await
                .gql()?
                .into_iter()
                .map(|(id, u)| (id, Node::User(User(u))))
                .collect(),
            Kind::Organization => {
                let visible = |org: &entity::organization::Model| {
                    viewer.sees_everything() || viewer.belongs_to(org.id)
                };
                loaders(ctx)?
                    .organizations
                    .load_many(uuids.iter().copied())
                    .await
                    .gql()?
                    .into_iter()
                    .filter(|(_, o)| visible(o))
                    .map(|(id, o)| (id, Node::Organization(Organization(o))))
                    .collect()
            }
            // One at a time: each is checked against its ticket (a `node` lookup, not a list).
            Kind::Attachment => {
                let mut found = HashMap::new();
                for uuid in &uuids {
                    match service::attachment::get(db(ctx)?, viewer, *uuid).await {
                        Ok((row, _)) => {
                            found.insert(row.id, Node::Attachment(Attachment(row)));
                        }
                        Err(service::Error::NotFound { .. }) => {}
                        Err(err) => return Err(crate::graphql::error::gql(err)),
                    }
                }
                found
            }
            // Notices are read in the inbox (`me.notifications`).
            Kind::Notification => HashMap::new(),
            // Comments are reached through their ticket, whose access they share.
            Kind::Comment
            | Kind::Webhook
            | Kind::WebhookDelivery
            | Kind::SlaPolicy
            | Kind::BusinessCalendar
            | Kind::Escalation
            | Kind::Session
            | Kind::ApiToken
            | Kind::AuditEntry => HashMap::new(),
        };
        for (global, uuid) in wanted {
            if let Some(node) = nodes.get(&uuid) {
                out.insert(global, node.clone());
            }
        }
    }
    Ok(out)
}
