//! A page of tickets and what hangs below each of them (people, organization, the first
//! comments and their authors), resolved from a plan of the selection made once per page,
//! rather than field by field by async-graphql's executor.
//!
//! The executor gives every field of every row a boxed future, a context and a map entry of
//! its own; for the ~1,300 fields of a dashboard read, that was about half of the server's
//! work. Below `TicketConnection.nodes`, the selection is read once ([`plan`]): each field
//! names one of the fields listed here, its arguments read and checked. The rows it needs
//! are then taken from the request's loaders for the whole page at once (the level prefetch
//! loaded them already; whatever it did not is loaded now, one statement per kind, as the
//! resolvers would), and the page is written straight to JSON text. On `/graphql`, when no
//! response key of the document is given twice ([`JsonPages`]), that text goes into the
//! response as it is; otherwise it is read back into a `Value` for async-graphql to merge.
//!
//! Whatever the plan does not know sends the whole page to the executor as before, which
//! then gives the same response: a fragment, a directive left after `@skip` and `@include`
//! were applied, a response key given twice in the page, a field not listed here, an argument
//! that does not parse, an extension that watches each field (field tracing, a subscription
//! socket's size budget), and a load that fails. Long
//! texts (descriptions, comment bodies) are charged to the response's size budget as they
//! are built, as their resolvers do. `tests/e2e/planned.rs` checks that both ways answer
//! the same for every field listed here.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::{Field, Selection};
use async_graphql::resolver_utils::EnumType;
use async_graphql::{
    Context, ContextSelectionSet, InputType, Name, OutputType, Positioned, ScalarType, ServerError,
    ServerResult, Value,
};
use entity::{comment, organization, ticket, user};
use service::actor::Actor;
use uuid::Uuid;

use super::ticket::{Ticket, comment_window};
use crate::graphql::context::Viewer;
use crate::graphql::enums::{Role, TicketCategory, TicketPriority, TicketStatus};
use crate::graphql::extension::response_size::ResponseBudget;
use crate::graphql::id::{Kind, cursor, encode};
use crate::graphql::loader::{CommentWindow, Hasher, Loaders};
use crate::graphql::scalar::Timestamp;
use crate::metrics::{Metrics, PageResolution};

/// In a schema's data when no extension watches each field resolve: pages are then planned.
pub struct Plans;

/// In a request's data when the `/graphql` handler writes its response and no response key of
/// its document is given twice. A planned page's JSON then goes into the response as it was
/// written, carried as a `Value::Binary` that the handler writes out verbatim; otherwise it is
/// read back into a `Value`. (async-graphql merges the values of a response key given twice,
/// which it cannot do with a page in JSON.)
pub struct JsonPages;

/// `TicketConnection.nodes`: the page's tickets, resolved from a plan when the selection
/// allows, else by the executor. The same GraphQL type as `[Ticket!]!`.
pub struct TicketNodes<'a>(pub &'a [Ticket]);

impl OutputType for TicketNodes<'_> {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <&[Ticket] as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <&[Ticket] as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <&[Ticket] as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let planned = tickets(ctx, self.0).await;
        if let Some(metrics) = ctx.data_opt::<Arc<Metrics>>() {
            metrics.record_ticket_page(match planned {
                Some(_) => PageResolution::plan,
                None => PageResolution::executor,
            });
        }
        match planned {
            Some(value) => value.map_err(|error| ctx.set_error_path(error)),
            None => OutputType::resolve(&self.0, ctx, field).await,
        }
    }
}

/// The tickets' values from a plan; `None` when the executor has to resolve them.
async fn tickets(ctx: &ContextSelectionSet<'_>, tickets: &[Ticket]) -> Option<ServerResult<Value>> {
    ctx.data_opt::<Plans>()?;
    let viewer = ctx.data_opt::<Viewer>()?.current()?;
    let loaders = ctx.data_opt::<Loaders>()?;
    let plan = plan::<TicketField>(ctx)?;
    let rows = Rows::load(loaders, &plan, tickets).await?;
    let build = Build {
        viewer: &viewer,
        budget: ctx.data_opt::<ResponseBudget>(),
        rows: &rows,
    };
    // About what a ticket of a dashboard (people, organization, a few comments) takes.
    let mut out = Json(Vec::with_capacity(1024 * tickets.len()));
    let written = out.list(tickets, |out, ticket| build.ticket(out, &ticket.0, &plan));
    Some(written.and_then(|()| {
        if ctx.data_opt::<JsonPages>().is_some() {
            Ok(Value::Binary(out.0.into()))
        } else {
            serde_json::from_slice(&out.0)
                .map_err(|err| ServerError::new(format!("a planned page: {err}"), None))
        }
    }))
}

/// The fields of one object, by response key, in the order asked.
type Plan<F> = Vec<(Name, F)>;

/// The fields of a GraphQL object type that a plan can build.
trait Planned: Sized {
    /// `__typename`.
    const TYPENAME: Self;

    /// The plan of `field`, or `None` when it is not one of these, or its arguments are not
    /// valid (its resolver then reports them).
    fn of(ctx: &Context<'_>) -> Option<Self>;
}

/// The plan of the selection set `ctx` holds.
fn plan<F: Planned>(ctx: &ContextSelectionSet<'_>) -> Option<Plan<F>> {
    let items = &ctx.item.node.items;
    // A set that `@skip` or `@include` emptied: the executor answers it with null.
    if items.is_empty() {
        return None;
    }
    let mut plan: Plan<F> = Vec::with_capacity(items.len());
    for selection in items {
        let Selection::Field(field) = &selection.node else {
            return None;
        };
        if !field.node.directives.is_empty() {
            return None;
        }
        let key = &field.node.response_key().node;
        if plan.iter().any(|(seen, _)| seen == key) {
            return None;
        }
        let planned = if field.node.name.node == "__typename" {
            F::TYPENAME
        } else {
            F::of(&ctx.with_field(field))?
        };
        plan.push((key.clone(), planned));
    }
    Some(plan)
}

/// The plan of the object a field returns.
fn below<F: Planned>(ctx: &Context<'_>) -> Option<Plan<F>> {
    plan(&ctx.with_selection_set(&ctx.item.node.selection_set))
}

/// A field's argument, parsed as its resolver would; `default` when it is not given.
fn argument<T: InputType>(ctx: &Context<'_>, name: &str, default: T) -> Option<T> {
    let arguments = ctx.field().arguments().ok()?;
    match arguments
        .into_iter()
        .find(|(given, _)| given.as_str() == name)
    {
        Some((_, value)) => T::parse(Some(value)).ok(),
        None => Some(default),
    }
}

enum TicketField {
    Typename,
    Id,
    Number,
    Title,
    Description,
    Status,
    Priority,
    Category,
    CreatedAt,
    UpdatedAt,
    FirstResponseAt,
    ResolvedAt,
    ClosedAt,
    ReopenedCount,
    Requester(Plan<UserField>),
    Assignee(Plan<UserField>),
    Organization(Plan<OrganizationField>),
    Comments(Comments),
}

/// A `comments(first, after)` selection: the window of each ticket it reads, and its plan.
struct Comments {
    first: i32,
    after: crate::graphql::loader::After,
    plan: Plan<ConnectionField>,
}

impl Comments {
    fn window(&self, ticket_id: Uuid) -> CommentWindow {
        comment_window(ticket_id, self.first, self.after)
    }

    /// Whether its comments' authors are asked for.
    fn wants_authors(&self) -> bool {
        let authored = |plan: &Plan<CommentField>| {
            plan.iter()
                .any(|(_, field)| matches!(field, CommentField::Author(_)))
        };
        self.plan.iter().any(|(_, field)| match field {
            ConnectionField::Nodes(plan) => authored(plan),
            ConnectionField::Edges(edge) => edge.iter().any(|(_, field)| match field {
                EdgeField::Node(plan) => authored(plan),
                _ => false,
            }),
            _ => false,
        })
    }
}

impl Planned for TicketField {
    const TYPENAME: Self = Self::Typename;

    fn of(ctx: &Context<'_>) -> Option<Self> {
        Some(match ctx.item.node.name.node.as_str() {
            "id" => Self::Id,
            "number" => Self::Number,
            "title" => Self::Title,
            "description" => Self::Description,
            "status" => Self::Status,
            "priority" => Self::Priority,
            "category" => Self::Category,
            "createdAt" => Self::CreatedAt,
            "updatedAt" => Self::UpdatedAt,
            "firstResponseAt" => Self::FirstResponseAt,
            "resolvedAt" => Self::ResolvedAt,
            "closedAt" => Self::ClosedAt,
            "reopenedCount" => Self::ReopenedCount,
            "requester" => Self::Requester(below(ctx)?),
            "assignee" => Self::Assignee(below(ctx)?),
            "organization" => Self::Organization(below(ctx)?),
            "comments" => {
                let first = argument(ctx, "first", 20)?;
                if first < 0 {
                    return None;
                }
                let after = argument::<Option<String>>(ctx, "after", None)?;
                let after = super::ticket::window_after(after).ok()?;
                Self::Comments(Comments {
                    first: service::page::capped(first),
                    after,
                    plan: below(ctx)?,
                })
            }
            _ => return None,
        })
    }
}

enum UserField {
    Typename,
    Id,
    Name,
    Role,
    Email,
    IsLocked,
    IsApproved,
    CreatedAt,
}

impl Planned for UserField {
    const TYPENAME: Self = Self::Typename;

    fn of(ctx: &Context<'_>) -> Option<Self> {
        Some(match ctx.item.node.name.node.as_str() {
            "id" => Self::Id,
            "name" => Self::Name,
            "role" => Self::Role,
            "email" => Self::Email,
            "isLocked" => Self::IsLocked,
            "isApproved" => Self::IsApproved,
            "createdAt" => Self::CreatedAt,
            _ => return None,
        })
    }
}

enum OrganizationField {
    Typename,
    Id,
    Name,
    Email,
    Phone,
    TimeZone,
    CreatedAt,
}

impl Planned for OrganizationField {
    const TYPENAME: Self = Self::Typename;

    fn of(ctx: &Context<'_>) -> Option<Self> {
        Some(match ctx.item.node.name.node.as_str() {
            "id" => Self::Id,
            "name" => Self::Name,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "timeZone" => Self::TimeZone,
            "createdAt" => Self::CreatedAt,
            _ => return None,
        })
    }
}

/// The fields of `CommentConnection` (its `totalCount` is not one).
enum ConnectionField {
    Typename,
    Nodes(Plan<CommentField>),
    Edges(Plan<EdgeField>),
    PageInfo(Plan<PageInfoField>),
}

impl Planned for ConnectionField {
    const TYPENAME: Self = Self::Typename;

    fn of(ctx: &Context<'_>) -> Option<Self> {
        Some(match ctx.item.node.name.node.as_str() {
            "nodes" => Self::Nodes(below(ctx)?),
            "edges" => Self::Edges(below(ctx)?),
            "pageInfo" => Self::PageInfo(below(ctx)?),
            _ => return None,
        })
    }
}

enum EdgeField {
    Typename,
    Cursor,
    Node(Plan<CommentField>),
}

impl Planned for EdgeField {
    const TYPENAME: Self = Self::Typename;

    fn of(ctx: &Context<'_>) -> Option<Self> {
        Some(match ctx.item.node.name.node.as_str() {
            "cursor" => Self::Cursor,
            "node" => Self::Node(below(ctx)?),
            _ => return None,
        })
    }
}

enum PageInfoField {
    Typename,
    HasNextPage,
    HasPreviousPage,
    StartCursor,
    EndCursor,
}

impl Planned for PageInfoField {
    const TYPENAME: Self = Self::Typename;

    fn of(ctx: &Context<'_>) -> Option<Self> {
        Some(match ctx.item.node.name.node.as_str() {
            "hasNextPage" => Self::HasNextPage,
            "hasPreviousPage" => Self::HasPreviousPage,
            "startCursor" => Self::StartCursor,
            "endCursor" => Self::EndCursor,
            _ => return None,
        })
    }
}

enum CommentField {
    Typename,
    Id,
    Body,
    Internal,
    Author(Plan<UserField>),
    CreatedAt,
    UpdatedAt,
}

impl Planned for CommentField {
    const TYPENAME: Self = Self::Typename;

    fn of(ctx: &Context<'_>) -> Option<Self> {
        Some(match ctx.item.node.name.node.as_str() {
            "id" => Self::Id,
            "body" => Self::Body,
            "internal" => Self::Internal,
            "author" => Self::Author(below(ctx)?),
            "createdAt" => Self::CreatedAt,
            "updatedAt" => Self::UpdatedAt,
            _ => return None,
        })
    }
}

/// The rows a page's plan reads, taken from the request's loaders for the whole page.
struct Rows {
    users: HashMap<Uuid, Arc<user::Model>, Hasher>,
    organizations: HashMap<Uuid, Arc<organization::Model>, Hasher>,
    windows: HashMap<CommentWindow, Arc<[comment::Model]>, Hasher>,
}

impl Rows {
    /// `None` when a load fails: the executor then runs into the failure on its field.
    async fn load(loaders: &Loaders, plan: &Plan<TicketField>, tickets: &[Ticket]) -> Option<Self> {
        let mut windows = HashMap::default();
        let mut people = Vec::new();
        let mut organizations = Vec::new();
        for (_, field) in plan {
            match field {
                TicketField::Requester(_) => {
                    people.extend(tickets.iter().map(|t| t.0.requester_id))
                }
                TicketField::Assignee(_) => {
                    people.extend(tickets.iter().filter_map(|t| t.0.assignee_id))
                }
                TicketField::Organization(_) => {
                    organizations.extend(tickets.iter().map(|t| t.0.organization_id))
                }
                TicketField::Comments(comments) => {
                    let keys = tickets.iter().map(|t| comments.window(t.0.id));
                    let found = loaders.comment_windows.load_many(keys).await.ok()?;
                    if comments.wants_authors() {
                        // The authors of the page's comments, not of the one more read to
                        // tell whether a next page follows.
                        let page = comments.first as usize;
                        people.extend(
                            found
                                .values()
                                .flat_map(|window| window.iter().take(page))
                                .map(|c| c.author_id),
                        );
                    }
                    windows.extend(found);
                }
                _ => {}
            }
        }
        Some(Self {
            users: loaders.users_of(people).await.ok()?,
            organizations: loaders.organizations_of(organizations).await.ok()?,
            windows,
        })
    }
}

/// What writing a page's JSON needs besides its rows.
struct Build<'a> {
    viewer: &'a Actor,
    budget: Option<&'a ResponseBudget>,
    rows: &'a Rows,
}

/// JSON text being written. Writing to memory cannot fail, so the results of `serde_json`'s
/// writers are not looked at.
struct Json(Vec<u8>);

impl Json {
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    fn string(&mut self, text: &str) {
        // Most texts (names, bodies) have nothing JSON escapes (a quote, a backslash, a
        // control character): they are copied as they are, after a pass that looks at every
        // byte without stopping, which the compiler turns into vector instructions.
        let plain = text.bytes().fold(true, |plain, byte| {
            plain & (byte >= 0x20) & (byte != b'"') & (byte != b'\\')
        });
        if plain {
            self.0.reserve(text.len() + 2);
            self.0.push(b'"');
            self.0.extend_from_slice(text.as_bytes());
            self.0.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut self.0, text);
        }
    }

    fn null(&mut self) {
        self.raw("null");
    }

    fn boolean(&mut self, value: bool) {
        self.raw(if value { "true" } else { "false" });
    }

    fn number(&mut self, value: i64) {
        let _ = serde_json::to_writer(&mut self.0, &value);
    }

    fn optional<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            Some(value) => write(self, value),
            None => self.null(),
        }
    }

    /// An enum's value, by its GraphQL name.
    fn enumeration<T: EnumType>(&mut self, value: T) {
        match T::items().iter().find(|item| item.value == value) {
            Some(item) => self.string(item.name),
            None => self.null(),
        }
    }

    fn global_id(&mut self, kind: Kind, id: Uuid) {
        self.string(&encode(kind, id));
    }

    fn time(&mut self, at: chrono::DateTime<chrono::Utc>) {
        if let Value::String(text) = ScalarType::to_value(&Timestamp(at)) {
            self.string(&text);
        }
    }

    /// An object from its plan, each field's value written by `field`, in the order asked.
    fn object<F>(
        &mut self,
        plan: &Plan<F>,
        mut field: impl FnMut(&mut Self, &F) -> ServerResult<()>,
    ) -> ServerResult<()> {
        self.0.push(b'{');
        for (n, (key, planned)) in plan.iter().enumerate() {
            if n > 0 {
                self.0.push(b',');
            }
            // A response key is a GraphQL name: nothing in it needs escaping.
            self.0.push(b'"');
            self.raw(key);
            self.raw("\":");
            field(self, planned)?;
        }
        self.0.push(b'}');
        Ok(())
    }

    fn list<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut item: impl FnMut(&mut Self, T) -> ServerResult<()>,
    ) -> ServerResult<()> {
        self.0.push(b'[');
        for (n, value) in items.into_iter().enumerate() {
            if n > 0 {
                self.0.push(b',');
            }
            item(self, value)?;
        }
        self.0.push(b']');
        Ok(())
    }
}

impl Build<'_> {
    /// A long text, charged to the response's size budget as its resolver does.
    fn long_text(&self, out: &mut Json, text: &str) -> ServerResult<()> {
        match self.budget {
            Some(budget) if !budget.charge_text(text) => {
                Err(ServerError::new("the response is too large", None))
            }
            _ => {
                out.string(text);
                Ok(())
            }
        }
    }

    fn ticket(
        &self,
        out: &mut Json,
        ticket: &ticket::Model,
        plan: &Plan<TicketField>,
    ) -> ServerResult<()> {
        out.object(plan, |out, field| {
            match field {
                TicketField::Typename => out.string("Ticket"),
                TicketField::Id => out.global_id(Kind::Ticket, ticket.id),
                TicketField::Number => out.string(&service::ticket::display_number(ticket.number)),
                TicketField::Title => out.string(&ticket.title),
                TicketField::Description => self.long_text(out, &ticket.description)?,
                TicketField::Status => out.enumeration(TicketStatus::from(ticket.status)),
                TicketField::Priority => out.enumeration(TicketPriority::from(ticket.priority)),
                TicketField::Category => out.enumeration(TicketCategory::from(ticket.category)),
                TicketField::CreatedAt => out.time(ticket.created_at),
                TicketField::UpdatedAt => out.time(ticket.updated_at),
                TicketField::FirstResponseAt => out.optional(ticket.first_response_at, Json::time),
                TicketField::ResolvedAt => out.optional(ticket.resolved_at, Json::time),
                TicketField::ClosedAt => out.optional(ticket.closed_at, Json::time),
                TicketField::ReopenedCount => out.number(ticket.reopened_count.into()),
                TicketField::Requester(plan) => self.user(out, Some(ticket.requester_id), plan),
                TicketField::Assignee(plan) => self.user(out, ticket.assignee_id, plan),
                TicketField::Organization(plan) => {
                    let found = self.rows.organizations.get(&ticket.organization_id);
                    out.optional(found, |out, organization| {
                        self.organization(out, organization, plan)
                    })
                }
                TicketField::Comments(comments) => self.comments(out, ticket.id, comments)?,
            }
            Ok(())
        })
    }

    fn user(&self, out: &mut Json, id: Option<Uuid>, plan: &Plan<UserField>) {
        let Some(user) = id.and_then(|id| self.rows.users.get(&id)) else {
            return out.null();
        };
        let details = || service::access::can_see_account_details(self.viewer, user.id);
        let _ = out.object(plan, |out, field| {
            match field {
                UserField::Typename => out.string("User"),
                UserField::Id => out.global_id(Kind::User, user.id),
                UserField::Name => out.string(&user.name),
                UserField::Role => out.enumeration(Role::from(user.role)),
                UserField::Email => out.optional(details().then_some(&user.email), |out, email| {
                    out.string(email)
                }),
                UserField::IsLocked => {
                    out.optional(details().then_some(user.is_locked), Json::boolean)
                }
                UserField::IsApproved => {
                    out.optional(details().then_some(user.is_approved), Json::boolean)
                }
                UserField::CreatedAt => out.time(user.created_at),
            }
            Ok(())
        });
    }

    fn organization(
        &self,
        out: &mut Json,
        organization: &organization::Model,
        plan: &Plan<OrganizationField>,
    ) {
        let _ = out.object(plan, |out, field| {
            match field {
                OrganizationField::Typename => out.string("Organization"),
                OrganizationField::Id => out.global_id(Kind::Organization, organization.id),
                OrganizationField::Name => out.string(&organization.name),
                OrganizationField::Email => {
                    out.optional(organization.email.as_deref(), Json::string)
                }
                OrganizationField::Phone => {
                    out.optional(organization.phone.as_deref(), Json::string)
                }
                OrganizationField::TimeZone => out.string(&organization.time_zone),
                OrganizationField::CreatedAt => out.time(organization.created_at),
            }
            Ok(())
        });
    }

    /// A ticket's `comments` page, as `Ticket.comments` and `CommentConnection` give it.
    fn comments(&self, out: &mut Json, ticket_id: Uuid, comments: &Comments) -> ServerResult<()> {
        let window = self
            .rows
            .windows
            .get(&comments.window(ticket_id))
            .map_or(&[][..], |window| &window[..]);
        let first = comments.first as usize;
        let page = &window[..window.len().min(first)];
        let position = |out: &mut Json, comment: &comment::Model| {
            out.string(&cursor(&service::comment::position(comment)))
        };
        out.object(&comments.plan, |out, field| {
            match field {
                ConnectionField::Typename => out.string("CommentConnection"),
                ConnectionField::Nodes(plan) => {
                    out.list(page, |out, comment| self.comment(out, comment, plan))?
                }
                ConnectionField::Edges(plan) => out.list(page, |out, comment| {
                    out.object(plan, |out, field| {
                        match field {
                            EdgeField::Typename => out.string("CommentEdge"),
                            EdgeField::Cursor => position(out, comment),
                            EdgeField::Node(plan) => self.comment(out, comment, plan)?,
                        }
                        Ok(())
                    })
                })?,
                ConnectionField::PageInfo(plan) => out.object(plan, |out, field| {
                    match field {
                        PageInfoField::Typename => out.string("PageInfo"),
                        PageInfoField::HasNextPage => out.boolean(window.len() > first),
                        PageInfoField::HasPreviousPage => out.boolean(comments.after.is_some()),
                        PageInfoField::StartCursor => out.optional(page.first(), position),
                        PageInfoField::EndCursor => out.optional(page.last(), position),
                    }
                    Ok(())
                })?,
            }
            Ok(())
        })
    }

    fn comment(
        &self,
        out: &mut Json,
        comment: &comment::Model,
        plan: &Plan<CommentField>,
    ) -> ServerResult<()> {
        out.object(plan, |out, field| {
            match field {
                CommentField::Typename => out.string("Comment"),
                CommentField::Id => out.global_id(Kind::Comment, comment.id),
                CommentField::Body => self.long_text(out, &comment.body)?,
                CommentField::Internal => out.boolean(comment.is_internal),
                CommentField::Author(plan) => self.user(out, Some(comment.author_id), plan),
                CommentField::CreatedAt => out.time(comment.created_at),
                CommentField::UpdatedAt => out.time(comment.updated_at),
            }
            Ok(())
        })
    }
}
