//! Keyset pagination: pages are cut by a (sort key, id) position, never by OFFSET, so a page
//! costs the same at row 10 and at row 1,000,000, and rows inserted meanwhile do not shift it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

/// A sort-key value at a page boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    Int(i64),
    Time(DateTime<Utc>),
    Text(String),
}

/// A position in an ordered list: the sort key of a row and its id as the tie-breaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub key: Key,
    pub id: Uuid,
}

/// The kind of sort key a list's cursors carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Int,
    Time,
    Text,
}

impl Key {
    fn kind(&self) -> KeyKind {
        match self {
            Key::Int(_) => KeyKind::Int,
            Key::Time(_) => KeyKind::Time,
            Key::Text(_) => KeyKind::Text,
        }
    }
}

/// Relay-style arguments: `first`/`after` walks forward, `last`/`before` backward.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub first: Option<i32>,
    pub after: Option<Position>,
    pub last: Option<i32>,
    pub before: Option<Position>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

impl PageRequest {
    /// Refuses cursors made for another list or order (which would otherwise compare the
    /// wrong kind of value, or silently restart the list).
    pub fn expect(&self, kind: KeyKind) -> Result<()> {
        for (field, position) in [("after", &self.after), ("before", &self.before)] {
            if let Some(position) = position
                && position.key.kind() != kind
            {
                return Err(Error::invalid(
                    field,
                    "is a cursor of another list or order",
                ));
            }
        }
        Ok(())
    }

    /// How many rows to return and in which direction; `first` defaults to 20, both are
    /// capped at 100.
    pub fn window(&self) -> Result<(u64, Direction)> {
        let check = |field: &'static str, n: i32| -> Result<u64> {
            if n < 0 {
                return Err(Error::invalid(field, "must not be negative"));
            }
            Ok((n as u64).min(MAX_PAGE))
        };
        match (self.first, self.last) {
            (Some(_), Some(_)) => Err(Error::invalid("last", "cannot be combined with first")),
            (_, Some(last)) => Ok((check("last", last)?, Direction::Backward)),
            (Some(first), None) => Ok((check("first", first)?, Direction::Forward)),
            (None, None) if self.before.is_some() => Ok((DEFAULT_PAGE, Direction::Backward)),
            (None, None) => Ok((DEFAULT_PAGE, Direction::Forward)),
        }
    }
}

/// One page of rows in display order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<T> Page<T> {
    /// The first page from a window loaded one row larger than `first`: the extra row, if it
    /// came, only says that there is a next page.
    pub fn first_of(mut items: Vec<T>, first: usize) -> Self {
        let has_next_page = items.len() > first;
        items.truncate(first);
        Page {
            items,
            has_next_page,
            has_previous_page: false,
        }
    }
}

/// The first `first` rows for each ticket in `ticket_ids` of a table with `ticket_id`,
/// `created_at` and `id` columns, oldest first, in one statement: a window function numbers
/// each ticket's rows and the outer query keeps the first ones. `only` narrows the rows first
/// (e.g. to public comments).
pub(crate) async fn first_per_ticket<E>(
    db: &impl sea_orm::ConnectionTrait,
    ticket_ids: &[Uuid],
    first: u64,
    only: Option<sea_orm::sea_query::SimpleExpr>,
) -> crate::Result<Vec<E::Model>>
where
    E: sea_orm::EntityTrait + Default,
{
    use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query};
    if ticket_ids.is_empty() || first == 0 {
        return Ok(Vec::new());
    }
    let mut inner = Query::select();
    inner
        .column(Asterisk)
        .expr_as(
            Expr::cust("ROW_NUMBER() OVER (PARTITION BY ticket_id ORDER BY created_at, id)"),
            Alias::new("rn"),
        )
        .from(E::default())
        .and_where(Expr::col(Alias::new("ticket_id")).is_in(ticket_ids.iter().copied()));
    if let Some(only) = only {
        inner.and_where(only);
    }
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(inner.to_owned(), Alias::new("numbered"))
        .and_where(Expr::col(Alias::new("rn")).lte(first as i64))
        .order_by(Alias::new("ticket_id"), Order::Asc)
        .order_by(Alias::new("rn"), Order::Asc)
        .to_owned();
    let statement = db.get_database_backend().build(&outer);
    Ok(E::find().from_raw_sql(statement).all(db).await?)
}

/// A page of `query`'s rows oldest first, after a (created_at, id) cursor.
pub(crate) async fn oldest_first<E>(
    db: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    created_at: E::Column,
    id: E::Column,
    page: &PageRequest,
) -> crate::Result<Page<E::Model>>
where
    E: sea_orm::EntityTrait,
{
    use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
    page.expect(KeyKind::Time)?;
    let (limit, _) = page.window()?;
    let mut query = query;
    if let Some(Position {
        key: Key::Time(at),
        id: after,
    }) = &page.after
    {
        query = query.filter(
            Condition::any()
                .add(created_at.gt(*at))
                .add(Condition::all().add(created_at.eq(*at)).add(id.gt(*after))),
        );
    }
    let mut rows = query
        .order_by_asc(created_at)
        .order_by_asc(id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok(Page {
        items: rows,
        has_next_page: more,
        has_previous_page: page.after.is_some(),
    })
}

/// A page of `query`'s rows by name: forward after a (name, id) cursor, or backward before one.
pub(crate) async fn by_name<E>(
    db: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    name: E::Column,
    id: E::Column,
    page: &PageRequest,
) -> crate::Result<Page<E::Model>>
where
    E: sea_orm::EntityTrait,
{
    use sea_orm::{ColumnTrait, Condition, Order, QueryFilter, QueryOrder, QuerySelect};
    page.expect(KeyKind::Text)?;
    let (limit, direction) = page.window()?;
    let forward = direction == Direction::Forward;
    let cursor = if forward { &page.after } else { &page.before };
    let mut query = query;
    if let Some(Position {
        key: Key::Text(at),
        id: at_id,
    }) = cursor
    {
        let (beyond, beyond_id) = if forward {
            (name.gt(at.clone()), id.gt(*at_id))
        } else {
            (name.lt(at.clone()), id.lt(*at_id))
        };
        query = query.filter(
            Condition::any()
                .add(beyond)
                .add(Condition::all().add(name.eq(at.clone())).add(beyond_id)),
        );
    }
    let order = if forward { Order::Asc } else { Order::Desc };
    let mut rows = query
        .order_by(name, order.clone())
        .order_by(id, order)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    if !forward {
        rows.reverse();
    }
    Ok(Page {
        items: rows,
        has_next_page: if forward { more } else { page.before.is_some() },
        has_previous_page: if forward { page.after.is_some() } else { more },
    })
}
