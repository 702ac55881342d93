use std::collections::HashMap;

use async_graphql::{Context, ID, Object, Result};
use uuid::Uuid;

use crate::graphql::context::{actor, db, loaders};
use crate::graphql::error::ResultExt;
use crate::graphql::id::{Kind, decode};
use crate::graphql::object::attachment::Attachment;
use crate::graphql::object::audit::AuditEntry;
use crate::graphql::object::comment::Comment;
use crate::graphql::object::escalation::Escalation;
use crate::graphql::object::node::Node;
use crate::graphql::object::notification::{Notification, NotificationDelivery};
use crate::graphql::object::organization::Organization;
use crate::graphql::object::sla::{BusinessCalendar, SlaPolicy};
use crate::graphql::object::ticket::Ticket;
use crate::graphql::object::user::{ApiToken, Session, User};
use crate::graphql::object::webhook::{Webhook, WebhookDelivery};
use sea_orm::{ColumnTrait, QueryFilter};

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
            Kind::Comment => {
                // A comment is seen with its ticket; an internal note by staff only.
                let rows = find::<entity::comment::Entity>(ctx, &uuids).await?;
                let visible =
                    visible_tickets(ctx, viewer, rows.iter().map(|c| c.ticket_id)).await?;
                let notes = service::access::sees_internal_notes(viewer);
                rows.into_iter()
                    .filter(|c| visible.contains(&c.ticket_id) && (notes || !c.is_internal))
                    .map(|c| (c.id, Node::Comment(Comment(c))))
                    .collect()
            }
            Kind::Webhook if viewer.is_admin() => find::<entity::webhook::Entity>(ctx, &uuids)
                .await?
                .into_iter()
                .map(|w| (w.id, Node::Webhook(Webhook(w))))
                .collect(),
            Kind::WebhookDelivery if viewer.is_admin() => {
                find::<entity::webhook_delivery::Entity>(ctx, &uuids)
                    .await?
                    .into_iter()
                    .map(|d| (d.id, Node::WebhookDelivery(WebhookDelivery(d))))
                    .collect()
            }
            Kind::AuditEntry if viewer.is_admin() => find::<entity::audit_log::Entity>(ctx, &uuids)
                .await?
                .into_iter()
                .map(|e| (e.id, Node::AuditEntry(AuditEntry(e))))
                .collect(),
            Kind::SlaPolicy if service::access::can_see_sla_policies(viewer) => {
                find::<entity::sla_policy::Entity>(ctx, &uuids)
                    .await?
                    .into_iter()
                    .map(|p| (p.id, Node::SlaPolicy(SlaPolicy(p))))
                    .collect()
            }
            Kind::BusinessCalendar if service::access::can_see_sla_policies(viewer) => {
                find::<entity::business_calendar::Entity>(ctx, &uuids)
                    .await?
                    .into_iter()
                    .map(|c| (c.id, Node::BusinessCalendar(BusinessCalendar(c))))
                    .collect()
            }
            // Notices are their recipient's.
            Kind::Notification => find::<entity::notification::Entity>(ctx, &uuids)
                .await?
                .into_iter()
                .filter(|n| n.user_id == viewer.user_id)
                .map(|n| (n.id, Node::Notification(Notification(n))))
                .collect(),
            // Email deliveries are administrators'.
            Kind::NotificationDelivery if viewer.is_admin() => {
                find::<entity::notification::Entity>(ctx, &uuids)
                    .await?
                    .into_iter()
                    .filter(|n| n.channel == entity::enums::NotificationChannel::Email)
                    .map(|n| (n.id, Node::NotificationDelivery(NotificationDelivery(n))))
                    .collect()
            }
            // API tokens are their owner's, and administrators'.
            Kind::ApiToken => find::<entity::api_token::Entity>(ctx, &uuids)
                .await?
                .into_iter()
                .filter(|t| viewer.is_admin() || t.user_id == viewer.user_id)
                .map(|t| (t.id, Node::ApiToken(ApiToken(t))))
                .collect(),
            // Escalations are staff's, on tickets they see.
            Kind::Escalation if viewer.is_staff() => {
                let rows = find::<entity::escalation::Entity>(ctx, &uuids).await?;
                let visible =
                    visible_tickets(ctx, viewer, rows.iter().map(|e| e.ticket_id)).await?;
                rows.into_iter()
                    .filter(|e| visible.contains(&e.ticket_id))
                    .map(|e| (e.id, Node::Escalation(Escalation(e))))
                    .collect()
            }
            // Your own sessions (an administrator lists others' on their account).
            Kind::Session => service::session::list(db(ctx)?, viewer, viewer.user_id)
                .await
                .gql()?
                .into_iter()
                .filter(|s| uuids.contains(&s.id))
                .map(|s| (s.id, Node::Session(Session(s))))
                .collect(),
            Kind::Webhook
            | Kind::WebhookDelivery
            | Kind::AuditEntry
            | Kind::SlaPolicy
            | Kind::BusinessCalendar
            | Kind::Escalation
            | Kind::NotificationDelivery => HashMap::new(),
        };
        for (global, uuid) in wanted {
            if let Some(node) = nodes.get(&uuid) {
                out.insert(global, node.clone());
            }
        }
    }
    Ok(out)
}

/// The rows of `E` with these ids (one statement); who may see them is the caller's check.
async fn find<E>(ctx: &Context<'_>, ids: &[Uuid]) -> Result<Vec<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: Send + Sync,
{
    use sea_orm::{Iterable, PrimaryKeyToColumn};
    let key = E::PrimaryKey::iter()
        .next()
        .map(|k| k.into_column())
        .ok_or_else(|| async_graphql::Error::new("an entity without a key"))?;
    E::find()
        .filter(key.is_in(ids.iter().copied()))
        .all(db(ctx)?)
        .await
        .map_err(|e| crate::graphql::error::gql(service::Error::from(e)))
}

/// Which of these tickets the viewer may read (one statement).
async fn visible_tickets(
    ctx: &Context<'_>,
    viewer: &service::actor::Actor,
    ids: impl Iterator<Item = Uuid>,
) -> Result<std::collections::HashSet<Uuid>> {
    let ids: Vec<Uuid> = ids.collect();
    Ok(service::ticket::query::by_ids(db(ctx)?, viewer, &ids)
        .await
        .gql()?
        .into_iter()
        .map(|t| t.id)
        .collect())
}
