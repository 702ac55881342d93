use crate::graphql::scalar::Timestamp;
use async_graphql::{Context, ID, Object, Result, SimpleObject};
use entity::ticket;
use service::page::{Key, KeyKind, Page, PageRequest, Position};
use uuid::Uuid;

use super::comment::CommentConnection;
use super::history::TicketHistoryEntry;
use super::organization::Organization;
use super::user::User;
use crate::graphql::context::{actor, loaders};
use crate::graphql::enums::{TicketCategory, TicketPriority, TicketStatus};
use crate::graphql::error::ResultExt;
use crate::graphql::extension::response_size::charge;
use crate::graphql::id::{Kind, encode, parse_cursor};
use crate::graphql::loader::{After, CommentWindow};

/// A support request: what the requester needs, who works on it, and its conversation.
#[derive(Clone)]
pub struct Ticket(pub ticket::Model);

/// What the viewer may do with a ticket, so clients can show only the actions that will work.
#[derive(SimpleObject, Clone, Copy)]
pub struct ViewerCan {
    /// Edit title, description, priority and category.
    pub update: bool,
    /// Assign the ticket to someone or unassign it (`ticketAssign`).
    pub assign: bool,
    /// Write a public reply (`commentCreate`).
    pub comment: bool,
    /// Write internal notes (staff only).
    pub comment_internal: bool,
    /// Move the ticket to at least one other status (see `availableTransitions`).
    pub transition: bool,
    /// Delete the ticket (`ticketDelete`).
    pub delete: bool,
}

/// A support request: what the requester needs, who works on it, and its conversation.
// The loader and page futures are boxed: async-graphql boxes every field's future at the
// size of the type's largest one (see `User`).
#[Object]
impl Ticket {
    /// The ticket's global ID.
    pub async fn id(&self) -> ID {
        encode(Kind::Ticket, self.0.id)
    }

    /// The human-readable number, e.g. `HD-1042`.
    async fn number(&self) -> String {
        service::ticket::display_number(self.0.number)
    }

    /// A one-line summary of the request.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// What the requester needs, in their words.
    async fn description(&self, ctx: &Context<'_>) -> Result<&str> {
        charge(ctx, &self.0.description)
    }

    /// Where the ticket is in its lifecycle.
    async fn status(&self) -> TicketStatus {
        self.0.status.into()
    }

    /// How urgent the ticket is; it picks the SLA policy.
    async fn priority(&self) -> TicketPriority {
        self.0.priority.into()
    }

    /// What the ticket is about.
    async fn category(&self) -> TicketCategory {
        self.0.category.into()
    }

    /// The ticket's service levels; null when its priority has no SLA policy.
    async fn sla(&self, ctx: &Context<'_>) -> Result<Option<super::sla::TicketSla>> {
        let Some(policy_id) = self.0.sla_policy_id else {
            return Ok(None);
        };
        let viewer = actor(ctx)?;
        Ok(Box::pin(loaders(ctx)?.measures.load_one(policy_id))
            .await
            .gql()?
            .map(|measure| super::sla::TicketSla::of(&measure, &self.0, &viewer)))
    }

    /// Who raised the ticket.
    async fn requester(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        Ok(loaders(ctx)?
            .user(self.0.requester_id)
            .await
            .gql()?
            .map(User))
    }

    /// Who works on it; null while unassigned.
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.assignee_id else {
            return Ok(None);
        };
        Ok(loaders(ctx)?.user(id).await.gql()?.map(User))
    }

    /// The organization the ticket belongs to.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        Ok(loaders(ctx)?
            .organization(self.0.organization_id)
            .await
            .gql()?
            .map(Organization))
    }

    /// The conversation, oldest first. Clients never see internal notes here.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn comments(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many comments to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the comments after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<CommentConnection> {
        let first = service::page::capped(first);
        let key = window(self.0.id, first, after)?;
        let window = Box::pin(loaders(ctx)?.comment_windows.load_one(key))
            .await
            .gql()?
            .map(|window| window.to_vec())
            .unwrap_or_default();
        Ok(CommentConnection::new(page_of(window, first, &key)))
    }

    /// The files on the ticket and its comments that you may see, oldest first.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn attachments(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many files to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the files after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<super::attachment::AttachmentConnection> {
        Box::pin(super::attachment::page_of(
            ctx,
            crate::graphql::loader::AttachmentsOf::Ticket(self.0.id),
            first,
            after.as_deref(),
        ))
        .await
    }

    /// How many files of the ticket and its comments you may see.
    async fn attachment_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(
            Box::pin(loaders(ctx)?.attachment_counts.load_one(self.0.id))
                .await
                .gql()?
                .unwrap_or(0),
        )
    }

    /// How many comments the viewer can see.
    async fn comment_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(Box::pin(loaders(ctx)?.comment_counts.load_one(self.0.id))
            .await
            .gql()?
            .unwrap_or(0))
    }

    /// Every change to the ticket, oldest first.
    #[graphql(complexity = "(first.clamp(0, 100) as usize) * child_complexity + 1")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = 20,
            validator(minimum = 0),
            desc = "How many changes to return; more than 100 is served as 100."
        )]
        first: i32,
        #[graphql(desc = "Return the changes after this cursor (an edge cursor or `endCursor`).")]
        after: Option<String>,
    ) -> Result<TicketHistoryConnection> {
        let first = service::page::capped(first);
        let key = window(self.0.id, first, after)?;
        let window = Box::pin(loaders(ctx)?.history_windows.load_one(key))
            .await
            .gql()?
            .unwrap_or_default();
        let page = page_of(window, first, &key);
        Ok(TicketHistoryConnection::new(page))
    }

    /// The statuses the viewer may move this ticket to now.
    async fn available_transitions(&self, ctx: &Context<'_>) -> Result<Vec<TicketStatus>> {
        let viewer = &actor(ctx)?;
        Ok(service::ticket::available_transitions(viewer, &self.0)
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// What you may do with this ticket now.
    async fn viewer_can(&self, ctx: &Context<'_>) -> Result<ViewerCan> {
        use service::access;
        let viewer = &actor(ctx)?;
        let ticket = &self.0;
        Ok(ViewerCan {
            update: access::can_update(viewer, ticket),
            assign: access::can_assign(viewer, ticket),
            comment: access::can_comment(viewer, ticket),
            comment_internal: access::can_comment_internal(viewer, ticket),
            transition: !service::ticket::available_transitions(viewer, ticket).is_empty(),
            delete: access::can_delete(viewer, ticket),
        })
    }

    /// When the ticket was raised.
    async fn created_at(&self) -> Timestamp {
        Timestamp(self.0.created_at)
    }

    /// When the ticket last changed; internal notes do not count.
    async fn updated_at(&self) -> Timestamp {
        Timestamp(self.0.updated_at)
    }

    /// When staff first answered publicly.
    async fn first_response_at(&self) -> Option<Timestamp> {
        self.0.first_response_at.map(Timestamp)
    }

    /// When the ticket was resolved; null while it is neither resolved nor closed.
    async fn resolved_at(&self) -> Option<Timestamp> {
        self.0.resolved_at.map(Timestamp)
    }

    /// When the ticket was closed; null while it is not closed.
    async fn closed_at(&self) -> Option<Timestamp> {
        self.0.closed_at.map(Timestamp)
    }

    /// How often the ticket came back after being resolved or closed.
    async fn reopened_count(&self) -> i32 {
        self.0.reopened_count
    }
}

super::page_info::connection!(
    /// A page of a ticket's history, oldest first.
    TicketHistoryConnection,
    TicketHistoryEdge,
    TicketHistoryEntry,
    entity::ticket_history::Model,
    service::ticket::query::history_position
);

/// The loader key of a page of a ticket's comments or history: one row more than asked (to
/// tell whether there is a next page), after the cursor's position. Through the loaders, the
/// pages of every ticket of a list take one statement.
fn window(ticket_id: Uuid, first: i32, after: Option<String>) -> Result<CommentWindow> {
    Ok(comment_window(ticket_id, first, window_after(after)?))
}

/// The window of `first` (already capped) after `after`, as [`window`] keys it.
pub(super) fn comment_window(ticket_id: Uuid, first: i32, after: After) -> CommentWindow {
    CommentWindow {
        ticket_id,
        first: first as u64 + 1,
        after,
    }
}

/// The position an `after` cursor of a comments or history page names.
pub(super) fn window_after(after: Option<String>) -> Result<After> {
    let Some(cursor) = after else {
        return Ok(None);
    };
    let page = PageRequest {
        after: Some(parse_cursor(&cursor, "after").gql()?),
        ..Default::default()
    };
    page.expect(KeyKind::Time).gql()?;
    Ok(match page.after {
        Some(Position {
            key: Key::Time(at),
            id,
        }) => Some((at, id)),
        _ => None,
    })
}

fn page_of<T>(window: Vec<T>, first: i32, key: &CommentWindow) -> Page<T> {
    let mut page = Page::first_of(window, first as usize);
    page.has_previous_page = key.after.is_some();
    page
}
