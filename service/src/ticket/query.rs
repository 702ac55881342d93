//! Reading tickets: one by id or number, and filtered, ordered, keyset-paginated lists — always
//! within the actor's scope, applied in SQL.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{TicketCategory, TicketPriority, TicketStatus};
use entity::ticket;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::actor::Actor;
use crate::decode::Positional;
use crate::page::{Direction, Key, KeyKind, PageRequest, Position};
use crate::{Result, access};

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Vec<TicketStatus>,
    pub priority: Vec<TicketPriority>,
    pub category: Vec<TicketCategory>,
    pub organization_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    /// Only tickets nobody is assigned to.
    pub unassigned: bool,
    pub requester_id: Option<Uuid>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// Words to find in the title, description or (visible) comments; results are then
    /// ranked by relevance instead of `order`.
    pub search: Option<String>,
    /// The resolution target's status, any of.
    pub sla_status: Vec<crate::sla::Status>,
    /// Unfinished tickets whose resolution clock runs and is due before this instant
    /// (overdue ones included).
    pub resolution_due_before: Option<DateTime<Utc>>,
}

const RUNNING: [TicketStatus; 3] = [
    TicketStatus::New,
    TicketStatus::Open,
    TicketStatus::InProgress,
];
const FINISHED: [TicketStatus; 2] = [TicketStatus::Resolved, TicketStatus::Closed];

/// Tickets whose resolution target has `status` now: the stored columns say the same as the
/// calculator (a clock that stood still before its due date is paused or met).
fn sla_status_condition(status: crate::sla::Status, now: DateTime<Utc>) -> Condition {
    use crate::sla::Status;
    let stood_in_time = || {
        Expr::col((ticket::Entity, ticket::Column::SlaPausedSince))
            .lte(Expr::col((ticket::Entity, ticket::Column::ResolutionDueAt)))
    };
    let stood_late = || {
        Expr::col((ticket::Entity, ticket::Column::SlaPausedSince))
            .gt(Expr::col((ticket::Entity, ticket::Column::ResolutionDueAt)))
    };
    match status {
        Status::Active => Condition::all()
            .add(ticket::Column::Status.is_in(RUNNING))
            .add(ticket::Column::ResolutionDueAt.gt(now)),
        Status::Paused => Condition::all()
            .add(ticket::Column::Status.eq(TicketStatus::PendingInfo))
            .add(stood_in_time()),
        Status::Met => Condition::all()
            .add(ticket::Column::Status.is_in(FINISHED))
            .add(stood_in_time()),
        Status::Breached => Condition::any()
            .add(
                Condition::all()
                    .add(ticket::Column::Status.is_in(RUNNING))
                    .add(ticket::Column::ResolutionDueAt.lte(now)),
            )
            .add(
                Condition::all()
                    .add(ticket::Column::Status.is_not_in(RUNNING))
                    .add(stood_late()),
            ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketOrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    Priority,
    Number,
    /// Tickets without a first-response target sort as if due at [`NO_DUE_DATE`].
    FirstResponseDueAt,
    /// Tickets without a resolution target sort as if due at [`NO_DUE_DATE`].
    ResolutionDueAt,
}

/// Where a ticket without a due date sorts among due dates: after every real one
/// (9999-12-31T23:59:59Z, the last instant every backend stores and orders as a time).
pub const NO_DUE_DATE: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 0) {
    Some(at) => at,
    None => panic!("a valid instant"),
};

/// A nullable due-date column as a sort key: NULL becomes [`NO_DUE_DATE`], so keyset cursors
/// compare plain times.
fn due_expr(column: ticket::Column) -> SimpleExpr {
    sea_orm::sea_query::Func::coalesce([
        Expr::col((ticket::Entity, column)),
        Expr::value(NO_DUE_DATE),
    ])
    .into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TicketOrder {
    pub field: TicketOrderField,
    pub descending: bool,
}

impl Default for TicketOrder {
    /// Newest first.
    fn default() -> Self {
        Self {
            field: TicketOrderField::CreatedAt,
            descending: true,
        }
    }
}

fn priority_rank(priority: TicketPriority) -> i64 {
    match priority {
        TicketPriority::Low => 0,
        TicketPriority::Medium => 1,
        TicketPriority::High => 2,
        TicketPriority::Critical => 3,
    }
}

/// Priorities are stored as words; ordering needs their rank, not the alphabet.
fn priority_rank_expr() -> SimpleExpr {
    let col = || Expr::col((ticket::Entity, ticket::Column::Priority));
    Expr::case(col().eq("low"), 0)
        .case(col().eq("medium"), 1)
        .case(col().eq("high"), 2)
        .finally(3)
        .into()
}

impl TicketOrderField {
    fn expr(self) -> SimpleExpr {
        match self {
            TicketOrderField::CreatedAt => Expr::col((ticket::Entity, ticket::Column::CreatedAt)),
            TicketOrderField::UpdatedAt => Expr::col((ticket::Entity, ticket::Column::UpdatedAt)),
            TicketOrderField::Priority => priority_rank_expr(),
            TicketOrderField::Number => Expr::col((ticket::Entity, ticket::Column::Number)),
            TicketOrderField::FirstResponseDueAt => due_expr(ticket::Column::FirstResponseDueAt),
            TicketOrderField::ResolutionDueAt => due_expr(ticket::Column::ResolutionDueAt),
        }
    }

    /// The position of a ticket in this order, for its cursor.
    pub fn position(self, ticket: &ticket::Model) -> Position {
        let key = match self {
            TicketOrderField::CreatedAt => Key::Time(ticket.created_at),
            TicketOrderField::UpdatedAt => Key::Time(ticket.updated_at),
            TicketOrderField::Priority => Key::Int(priority_rank(ticket.priority)),
            TicketOrderField::Number => Key::Int(ticket.number),
            TicketOrderField::FirstResponseDueAt => {
                Key::Time(ticket.first_response_due_at.unwrap_or(NO_DUE_DATE))
            }
            TicketOrderField::ResolutionDueAt => {
                Key::Time(ticket.resolution_due_at.unwrap_or(NO_DUE_DATE))
            }
        };
        Position { key, id: ticket.id }
    }
}

pub fn filter_condition(filter: &TicketFilter) -> Condition {
    let mut condition = Condition::all();
    if !filter.status.is_empty() {
        condition = condition.add(ticket::Column::Status.is_in(filter.status.clone()));
    }
    if !filter.priority.is_empty() {
        condition = condition.add(ticket::Column::Priority.is_in(filter.priority.clone()));
    }
    if !filter.category.is_empty() {
        condition = condition.add(ticket::Column::Category.is_in(filter.category.clone()));
    }
    if let Some(id) = filter.organization_id {
        condition = condition.add(ticket::Column::OrganizationId.eq(id));
    }
    if filter.unassigned {
        condition = condition.add(ticket::Column::AssigneeId.is_null());
    } else if let Some(id) = filter.assignee_id {
        condition = condition.add(ticket::Column::AssigneeId.eq(id));
    }
    if let Some(id) = filter.requester_id {
        condition = condition.add(ticket::Column::RequesterId.eq(id));
    }
    if let Some(at) = filter.created_after {
        condition = condition.add(ticket::Column::CreatedAt.gt(at));
    }
    if let Some(at) = filter.created_before {
        condition = condition.add(ticket::Column::CreatedAt.lt(at));
    }
    if let Some(at) = filter.updated_after {
        condition = condition.add(ticket::Column::UpdatedAt.gt(at));
    }
    if let Some(at) = filter.updated_before {
        condition = condition.add(ticket::Column::UpdatedAt.lt(at));
    }
    let now = Utc::now();
    if !filter.sla_status.is_empty() {
        let mut any = Condition::any();
        for status in &filter.sla_status {
            any = any.add(sla_status_condition(*status, now));
        }
        condition = condition.add(any);
    }
    if let Some(at) = filter.resolution_due_before {
        condition = condition
            .add(ticket::Column::Status.is_in(RUNNING))
            .add(ticket::Column::ResolutionDueAt.lt(at));
    }
    condition
}

fn key_value(key: &Key) -> sea_orm::Value {
    match key {
        Key::Int(n) => (*n).into(),
        Key::Time(t) => (*t).into(),
        Key::Text(t) => t.clone().into(),
    }
}

/// Rows strictly beyond `position` when scanning in `ascending` order.
fn beyond(field: TicketOrderField, position: &Position, ascending: bool) -> Condition {
    let key = field.expr();
    let value = key_value(&position.key);
    let id = Expr::col((ticket::Entity, ticket::Column::Id));
    if ascending {
        Condition::any()
            .add(key.clone().gt(value.clone()))
            .add(Condition::all().add(key.eq(value)).add(id.gt(position.id)))
    } else {
        Condition::any()
            .add(key.clone().lt(value.clone()))
            .add(Condition::all().add(key.eq(value)).add(id.lt(position.id)))
    }
}

/// The words of a search, lower-cased, without operators or punctuation: whatever the user
/// typed is matched as plain words (all of them), never interpreted as query syntax.
fn search_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .take(16)
        .collect()
}

/// SQL for a search: which tickets match, and a relevance score (4: every word in the title,
/// plus 2: in the title or description, plus 1: in a comment the actor may read).
struct Search {
    matches: SimpleExpr,
    score: SimpleExpr,
}

fn search_sql(backend: sea_orm::DbBackend, actor: &Actor, words: &[String]) -> Search {
    let id = "\"tickets\".\"id\"";
    let visible = if crate::access::sees_internal_notes(actor) {
        ""
    } else {
        " AND NOT c.is_internal"
    };
    match backend {
        sea_orm::DbBackend::Postgres => {
            let text = words.join(" ");
            // sea-query numbers PostgreSQL placeholders `$1`, `$2`, ... within each expression.
            let ticket = Expr::cust_with_values(
                "\"tickets\".\"search_vector\" @@ plainto_tsquery('simple', $1)",
                [text.clone()],
            );
            let title = Expr::cust_with_values(
                "to_tsvector('simple', \"tickets\".\"title\") @@ plainto_tsquery('simple', $1)",
                [text.clone()],
            );
            let comment = Expr::cust_with_values(
                format!(
                    "EXISTS (SELECT 1 FROM comments c WHERE c.ticket_id = {id} AND c.search_vector @@ plainto_tsquery('simple', $1){visible})"
                ),
                [text],
            );
            Search::from_parts(ticket, title, comment)
        }
        _ => {
            // FTS5 syntax: each word as a quoted string; the title variant scopes each one.
            let all = words
                .iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" ");
            let in_title = words
                .iter()
                .map(|w| format!("title : \"{w}\""))
                .collect::<Vec<_>>()
                .join(" AND ");
            let visible = if crate::access::sees_internal_notes(actor) {
                ""
            } else {
                " AND internal = 0"
            };
            let ticket = Expr::cust_with_values(
                format!(
                    "{id} IN (SELECT ticket_id FROM ticket_search WHERE ticket_search MATCH ? AND comment_id IS NULL)"
                ),
                [all.clone()],
            );
            let title = Expr::cust_with_values(
                format!(
                    "{id} IN (SELECT ticket_id FROM ticket_search WHERE ticket_search MATCH ? AND comment_id IS NULL)"
                ),
                [in_title],
            );
            let comment = Expr::cust_with_values(
                format!(
                    "{id} IN (SELECT ticket_id FROM ticket_search WHERE ticket_search MATCH ? AND comment_id IS NOT NULL{visible})"
                ),
                [all],
            );
            Search::from_parts(ticket, title, comment)
        }
    }
}

impl Search {
    fn from_parts(ticket: SimpleExpr, title: SimpleExpr, comment: SimpleExpr) -> Self {
        // 64-bit literals, so PostgreSQL types the sum BIGINT like the cursor's key.
        let score = Expr::case(title, 4i64)
            .finally(0i64)
            .add(Expr::case(ticket.clone(), 2i64).finally(0i64))
            .add(Expr::case(comment.clone(), 1i64).finally(0i64));
        Search {
            matches: ticket.or(comment),
            score,
        }
    }
}

/// A page of search results, most relevant first (ties newest first): ids and scores in one
/// statement, the tickets in a second.
async fn search_page(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: &TicketFilter,
    words: &[String],
    page: &PageRequest,
) -> Result<TicketPage> {
    page.expect(KeyKind::Int)?;
    let (limit, direction) = page.window()?;
    if direction == Direction::Backward {
        return Err(crate::Error::invalid(
            "last",
            "search results page forward only",
        ));
    }
    let search = search_sql(db.get_database_backend(), actor, words);
    let mut query = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .column_as(search.score.clone(), "score")
        .filter(access::ticket_scope(actor))
        .filter(filter_condition(filter))
        .filter(search.matches);
    if let Some(Position {
        key: Key::Int(score),
        id,
    }) = &page.after
    {
        let id_col = Expr::col((ticket::Entity, ticket::Column::Id));
        query = query.filter(
            Condition::any().add(search.score.clone().lt(*score)).add(
                Condition::all()
                    .add(search.score.clone().eq(*score))
                    .add(id_col.lt(*id)),
            ),
        );
    }
    let ranked: Vec<(Uuid, i64)> = query
        .order_by(search.score, Order::Desc)
        .order_by(ticket::Column::Id, Order::Desc)
        .limit(limit + 1)
        .into_tuple()
        .all(db)
        .await?;
    let more = ranked.len() as u64 > limit;
    let ranked: Vec<(Uuid, i64)> = ranked.into_iter().take(limit as usize).collect();
    let ids: Vec<Uuid> = ranked.iter().map(|(id, _)| *id).collect();
    let mut rows: std::collections::HashMap<Uuid, ticket::Model> = if ids.is_empty() {
        Default::default()
    } else {
        ticket::Entity::find()
            .filter(ticket::Column::Id.is_in(ids))
            .all(db)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect()
    };
    let (items, positions) = ranked
        .iter()
        .filter_map(|(id, score)| {
            rows.remove(id).map(|t| {
                (
                    t,
                    Position {
                        key: Key::Int(*score),
                        id: *id,
                    },
                )
            })
        })
        .unzip();
    Ok(TicketPage {
        items,
        positions,
        has_next_page: more,
        has_previous_page: page.after.is_some(),
    })
}

/// A page of tickets with each one's cursor position (its sort key, or its search score).
#[derive(Debug, Clone)]
pub struct TicketPage {
    pub items: Vec<ticket::Model>,
    pub positions: Vec<Position>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// One page of the tickets `actor` may read that match `filter`.
#[tracing::instrument(skip(db, actor, filter))]
pub async fn list(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: &TicketFilter,
    order: TicketOrder,
    page: &PageRequest,
) -> Result<TicketPage> {
    if let Some(words) = filter
        .search
        .as_deref()
        .map(search_words)
        .filter(|w| !w.is_empty())
    {
        return search_page(db, actor, filter, &words, page).await;
    }
    expect_cursors(page, order)?;
    let (limit, direction) = page.window()?;
    let query = sea_orm::QueryTrait::into_query(page_query(actor, filter, order, page, direction)?);
    let rows = ticket::Entity::find()
        .from_raw_sql(crate::page::limited(
            db.get_database_backend(),
            &query,
            limit + 1,
        ))
        .into_model::<Positional<ticket::Model>>()
        .all(db)
        .await?;
    let rows = rows.into_iter().map(|Positional(row)| row).collect();
    Ok(cut_page(rows, limit, direction, order, page))
}

/// The tickets `list` gives for the same arguments, as a query to read other rows by: their
/// `id`, `requester_id`, `assignee_id` and `organization_id` (PostgreSQL only: see
/// [`super::alongside`]). `None` for a search, whose pages are ranked apart.
pub(crate) fn page_keys(
    backend: sea_orm::DatabaseBackend,
    actor: &Actor,
    filter: &TicketFilter,
    order: TicketOrder,
    page: &PageRequest,
) -> Result<Option<sea_orm::Statement>> {
    if searches(filter) {
        return Ok(None);
    }
    expect_cursors(page, order)?;
    let (limit, direction) = page.window()?;
    let mut query =
        sea_orm::QueryTrait::into_query(page_query(actor, filter, order, page, direction)?);
    query.clear_selects().columns([
        (ticket::Entity, ticket::Column::Id),
        (ticket::Entity, ticket::Column::RequesterId),
        (ticket::Entity, ticket::Column::AssigneeId),
        (ticket::Entity, ticket::Column::OrganizationId),
    ]);
    // The page's own tickets: `list` reads one more only to tell whether a next page follows.
    Ok(Some(crate::page::limited(backend, &query, limit)))
}

/// Whether `filter` searches for words, whose pages `list` ranks apart.
fn searches(filter: &TicketFilter) -> bool {
    filter
        .search
        .as_deref()
        .map(search_words)
        .is_some_and(|words| !words.is_empty())
}

/// Cursors of the kind `order` pages by, or `BAD_USER_INPUT`.
fn expect_cursors(page: &PageRequest, order: TicketOrder) -> Result<()> {
    page.expect(match order.field {
        TicketOrderField::CreatedAt
        | TicketOrderField::UpdatedAt
        | TicketOrderField::FirstResponseDueAt
        | TicketOrderField::ResolutionDueAt => KeyKind::Time,
        TicketOrderField::Priority | TicketOrderField::Number => KeyKind::Int,
    })
}

/// The query behind a page of `list`, without its limit; `filter` is not a search.
fn page_query(
    actor: &Actor,
    filter: &TicketFilter,
    order: TicketOrder,
    page: &PageRequest,
    direction: Direction,
) -> Result<sea_orm::Select<ticket::Entity>> {
    // Backward pages scan the reversed order and are flipped back afterwards.
    let ascending = !order.descending ^ (direction == Direction::Backward);
    let mut query = ticket::Entity::find()
        .filter(access::ticket_scope(actor))
        .filter(filter_condition(filter));
    let cursor = match direction {
        Direction::Forward => page.after.as_ref(),
        Direction::Backward => page.before.as_ref(),
    };
    if let Some(position) = cursor {
        query = query.filter(beyond(order.field, position, ascending));
    }
    let sort = if ascending { Order::Asc } else { Order::Desc };
    Ok(query
        .order_by(order.field.expr(), sort.clone())
        .order_by(ticket::Column::Id, sort))
}

/// A page from the rows of its window, loaded one row larger than the page.
fn cut_page(
    mut rows: Vec<ticket::Model>,
    limit: u64,
    direction: Direction,
    order: TicketOrder,
    page: &PageRequest,
) -> TicketPage {
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    if direction == Direction::Backward {
        rows.reverse();
    }
    let positions = rows.iter().map(|t| order.field.position(t)).collect();
    let (has_next_page, has_previous_page) = match direction {
        Direction::Forward => (more, page.after.is_some()),
        Direction::Backward => (page.before.is_some(), more),
    };
    TicketPage {
        items: rows,
        positions,
        has_next_page,
        has_previous_page,
    }
}

/// The same page of `list` for each of `organization_ids` (`filter.organization_id` is
/// ignored), in one statement for the whole level (see [`crate::page::per_parent`]). A search
/// ranks each organization's tickets on its own, one statement per organization.
pub async fn list_per_organization(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: &TicketFilter,
    order: TicketOrder,
    page: &PageRequest,
    organization_ids: &[Uuid],
) -> Result<HashMap<Uuid, TicketPage>> {
    let mut pages = HashMap::new();
    if searches(filter) {
        for id in organization_ids {
            let mut one = filter.clone();
            one.organization_id = Some(*id);
            pages.insert(*id, list(db, actor, &one, order, page).await?);
        }
        return Ok(pages);
    }
    let mut filter = filter.clone();
    filter.organization_id = None;
    expect_cursors(page, order)?;
    let (limit, direction) = page.window()?;
    let query = page_query(actor, &filter, order, page, direction)?;
    let rows = crate::page::per_parent(
        db,
        query,
        ticket::Column::OrganizationId,
        organization_ids,
        limit + 1,
    )
    .await?;
    let mut by_organization: HashMap<Uuid, Vec<ticket::Model>> = HashMap::new();
    for row in rows {
        by_organization
            .entry(row.organization_id)
            .or_default()
            .push(row);
    }
    let ascending = !order.descending ^ (direction == Direction::Backward);
    for id in organization_ids {
        let mut rows = by_organization.remove(id).unwrap_or_default();
        // Each organization's rows in the page's order (the statement orders within a parent
        // only in practice, not by contract).
        rows.sort_by(|a, b| {
            let by_key = crate::page::compare_keys(
                &order.field.position(a).key,
                &order.field.position(b).key,
            )
            .then(a.id.cmp(&b.id));
            if ascending { by_key } else { by_key.reverse() }
        });
        pages.insert(*id, cut_page(rows, limit, direction, order, page));
    }
    Ok(pages)
}

/// How many tickets `actor` may read match `filter` in each of `organization_ids`
/// (`filter.organization_id` is ignored): one statement for the level.
pub async fn count_per_organization(
    db: &impl ConnectionTrait,
    actor: &Actor,
    filter: &TicketFilter,
    organization_ids: &[Uuid],
) -> Result<HashMap<Uuid, u64>> {
    if organization_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut filter = filter.clone();
    filter.organization_id = None;
    let mut query = ticket::Entity::find()
        .filter(access::ticket_scope(actor))
        .filter(filter_condition(&filter))
        .filter(ticket::Column::OrganizationId.is_in(organization_ids.iter().copied()));
    if let Some(words) = filter
        .search
        .as_deref()
        .map(search_words)
        .filter(|w| !w.is_empty())
    {
        query = query.filter(search_sql(db.get_database_backend(), actor, &words).matches);
    }
    let rows: Vec<(Uuid, i64)> = query
        .select_only()
        .column(ticket::Column::OrganizationId)
        .column_as(ticket::Column::Id.count(), "count")
        .group_by(ticket::Column::OrganizationId)
        .into_tuple()
        .all(db)
        .await?;
    let mut counts: HashMap<Uuid, u64> = organization_ids.iter().map(|id| (*id, 0)).collect();
    for (id, count) in rows {
        counts.insert(id, u64::try_from(count).unwrap_or(0));
    }
    Ok(counts)
}

/// How many tickets `actor` may read match `filter` (one COUNT statement).
pub async fn count(db: &impl ConnectionTrait, actor: &Actor, filter: &TicketFilter) -> Result<u64> {
    let mut query = ticket::Entity::find()
        .filter(access::ticket_scope(actor))
        .filter(filter_condition(filter));
    if let Some(words) = filter
        .search
        .as_deref()
        .map(search_words)
        .filter(|w| !w.is_empty())
    {
        query = query.filter(search_sql(db.get_database_backend(), actor, &words).matches);
    }
    Ok(query.count(db).await?)
}

/// A ticket by id, if `actor` may read it.
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<ticket::Model> {
    access::readable(actor, ticket::Entity::find_by_id(id).one(db).await?)
}

/// A ticket by its number (`HD-1042` or `1042`), if `actor` may read it.
pub async fn get_by_number(
    db: &impl ConnectionTrait,
    actor: &Actor,
    number: &str,
) -> Result<ticket::Model> {
    let number = super::parse_number(number)
        .ok_or_else(|| crate::Error::invalid("number", "is not a ticket number like HD-1042"))?;
    access::readable(
        actor,
        ticket::Entity::find()
            .filter(ticket::Column::Number.eq(number))
            .one(db)
            .await?,
    )
}

/// The tickets among `ids` that `actor` may read, in one statement (for loaders and `nodes`).
pub async fn by_ids(
    db: &impl ConnectionTrait,
    actor: &Actor,
    ids: &[Uuid],
) -> Result<Vec<ticket::Model>> {
    Ok(ticket::Entity::find()
        .filter(access::ticket_scope(actor))
        .filter(ticket::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?)
}

/// The cursor position of a history entry.
pub fn history_position(entry: &entity::ticket_history::Model) -> Position {
    Position {
        key: Key::Time(entry.created_at),
        id: entry.id,
    }
}

/// The first `first` history entries (oldest first, after the `after` position when given) of
/// each ticket in `ticket_ids`, in one statement.
pub async fn history_first_of_tickets(
    db: &impl ConnectionTrait,
    ticket_ids: &[Uuid],
    first: u64,
    after: Option<(DateTime<Utc>, Uuid)>,
) -> Result<std::collections::HashMap<Uuid, Vec<entity::ticket_history::Model>>> {
    let rows = crate::page::first_per_ticket::<
        entity::ticket_history::Entity,
        entity::ticket_history::Model,
    >(db, ticket_ids, first, after, None)
    .await?;
    Ok(crate::page::by_ticket(rows, |h| {
        (h.ticket_id, h.created_at, h.id)
    }))
}
