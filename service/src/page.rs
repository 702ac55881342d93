//! Keyset pagination: pages are cut by a (sort key, id) position, never by OFFSET, so a page
//! costs the same at row 10 and at row 1,000,000, and rows inserted meanwhile do not shift it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

/// A list's `first` as every list serves it: more than [`MAX_PAGE`] is served as [`MAX_PAGE`].
pub fn capped(first: i32) -> i32 {
    first.min(MAX_PAGE as i32)
}

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
            Ok(capped(n) as u64)
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
/// `created_at` and `id` columns (after the `after` position, when given), in one statement,
/// decoded as `M` (`E::Model`, or [`crate::decode::Positional`]), in no particular order:
/// [`by_ticket`] groups and orders them. `only` narrows the rows first (e.g. to public
/// comments).
///
/// On PostgreSQL each ticket reads its own first rows through the `(ticket_id, created_at)`
/// index (`CROSS JOIN LATERAL ... LIMIT`), and the ticket ids travel as one array, so the
/// statement's text, and its prepared plan, are the same for any number of tickets. The rows
/// are not sorted there: a few rows per ticket are put in order here for less than the sort of
/// the whole window costs the database. SQLite has no LATERAL: a window function numbers each
/// ticket's rows and the outer query keeps the first ones.
pub(crate) async fn first_per_ticket<E, M>(
    db: &impl sea_orm::ConnectionTrait,
    ticket_ids: &[Uuid],
    first: u64,
    after: Option<(DateTime<Utc>, Uuid)>,
    only: Option<sea_orm::sea_query::SimpleExpr>,
) -> crate::Result<Vec<M>>
where
    E: sea_orm::EntityTrait + Default,
    M: sea_orm::FromQueryResult,
{
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    use sea_orm::{DatabaseBackend, Iterable};
    if ticket_ids.is_empty() || first == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let statement = if backend == DatabaseBackend::Postgres {
        lateral(
            limited(backend, &first_rows_query::<E>(after, only), first),
            ticket_ids,
        )
    } else {
        let only = narrowed::<E>(after, only);
        let ticket_id = Alias::new("ticket_id");
        let mut inner = Query::select();
        inner
            .columns(E::Column::iter().map(|c| (E::default(), c)))
            .expr_as(
                Expr::cust("ROW_NUMBER() OVER (PARTITION BY ticket_id ORDER BY created_at, id)"),
                Alias::new("rn"),
            )
            .from(E::default())
            .and_where(Expr::col(ticket_id.clone()).is_in(ticket_ids.iter().copied()));
        if let Some(only) = only {
            inner.and_where(only);
        }
        let outer = Query::select()
            .columns(E::Column::iter().map(|c| (Alias::new("numbered"), c)))
            .from_subquery(inner.to_owned(), Alias::new("numbered"))
            .and_where(Expr::col(Alias::new("rn")).lte(first as i64))
            .to_owned();
        backend.build(&outer)
    };
    Ok(E::find()
        .from_raw_sql(statement)
        .into_model::<M>()
        .all(db)
        .await?)
}

/// `only` and the rows after `after`, together.
fn narrowed<E>(
    after: Option<(DateTime<Utc>, Uuid)>,
    only: Option<sea_orm::sea_query::SimpleExpr>,
) -> Option<sea_orm::sea_query::SimpleExpr>
where
    E: sea_orm::EntityTrait + Default,
{
    use sea_orm::sea_query::{Alias, Expr, ExprTrait};
    let column = |name: &str| Expr::col((E::default(), Alias::new(name)));
    let after = after.map(|(at, id)| {
        column("created_at")
            .gt(at)
            .or(column("created_at").eq(at).and(column("id").gt(id)))
    });
    match (only, after) {
        (Some(only), Some(after)) => Some(only.and(after)),
        (only, after) => only.or(after),
    }
}

/// The rows of the ticket `parent.id` names, oldest first (PostgreSQL), as
/// [`first_per_ticket`] reads them.
pub(crate) fn first_rows_query<E>(
    after: Option<(DateTime<Utc>, Uuid)>,
    only: Option<sea_orm::sea_query::SimpleExpr>,
) -> sea_orm::sea_query::SelectStatement
where
    E: sea_orm::EntityTrait + Default,
{
    use sea_orm::Iterable;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
    let mut inner = Query::select();
    inner
        .columns(E::Column::iter().map(|c| (E::default(), c)))
        .from(E::default())
        .and_where(
            Expr::col((E::default(), Alias::new("ticket_id")))
                .equals((Alias::new("parent"), Alias::new("id"))),
        );
    if let Some(only) = narrowed::<E>(after, only) {
        inner.and_where(only);
    }
    inner
        .order_by((E::default(), Alias::new("created_at")), Order::Asc)
        .order_by((E::default(), Alias::new("id")), Order::Asc);
    inner.to_owned()
}

/// `sql` with each `$n` placeholder written as `$(n + offset)`.
pub(crate) fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut number = String::new();
        while let Some(&(_, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            number.push(d);
            chars.next();
        }
        match number.parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&number),
        }
    }
}

/// Rows of several tickets (as [`first_per_ticket`] returns them) grouped by ticket, each
/// ticket's oldest first: `key` gives a row's ticket and its position (time, then id).
pub(crate) fn by_ticket<T>(
    rows: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> (Uuid, DateTime<Utc>, Uuid),
) -> std::collections::HashMap<Uuid, Vec<T>> {
    let mut grouped: std::collections::HashMap<Uuid, Vec<T>> = Default::default();
    for row in rows {
        grouped.entry(key(&row).0).or_default().push(row);
    }
    for rows in grouped.values_mut() {
        rows.sort_by_key(|row| {
            let (_, at, id) = key(row);
            (at, id)
        });
    }
    grouped
}

/// `query` run once for each of `parent_ids`, narrowed to the rows whose `parent` column is
/// that id and cut at `limit` rows, all in one statement: the rows of every parent, in no
/// particular order between or within parents. On PostgreSQL the ids travel as one array
/// parameter (`CROSS JOIN LATERAL` over `unnest`), so the statement's text and plan are the
/// same for any number of parents; SQLite has no LATERAL, and gets one `UNION ALL` term per
/// parent.
pub(crate) async fn per_parent<E>(
    db: &impl sea_orm::ConnectionTrait,
    query: sea_orm::Select<E>,
    parent: E::Column,
    parent_ids: &[Uuid],
    limit: u64,
) -> crate::Result<Vec<E::Model>>
where
    E: sea_orm::EntityTrait + Default,
{
    use sea_orm::sea_query::{Alias, Expr, ExprTrait};
    use sea_orm::{DatabaseBackend, QueryFilter, QuerySelect, QueryTrait, Statement};
    if parent_ids.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let statement = if backend == DatabaseBackend::Postgres {
        let inner = query
            .filter(
                Expr::col((E::default(), parent)).equals((Alias::new("parent"), Alias::new("id"))),
            )
            .into_query();
        lateral(limited(backend, &inner, limit), parent_ids)
    } else {
        let mut sql = String::new();
        let mut values = Vec::new();
        for (n, id) in parent_ids.iter().enumerate() {
            let term = query
                .clone()
                .filter(Expr::col((E::default(), parent)).eq(*id))
                .limit(limit)
                .build(backend);
            if n > 0 {
                sql.push_str(" UNION ALL ");
            }
            sql.push_str("SELECT * FROM (");
            sql.push_str(&term.sql);
            sql.push(')');
            values.extend(term.values.map(|v| v.0).unwrap_or_default());
        }
        Statement::from_sql_and_values(backend, sql, values)
    };
    Ok(E::find().from_raw_sql(statement).all(db).await?)
}

/// `inner` (a PostgreSQL statement that names `parent.id`) run for each of `parent_ids` in one
/// statement: `CROSS JOIN LATERAL` over the ids, bound as one array parameter, so the text is
/// the same for any number of parents. `order` follows, for the rows' order.
fn lateral(inner: sea_orm::Statement, parent_ids: &[Uuid]) -> sea_orm::Statement {
    let mut values = inner.values.map(|v| v.0).unwrap_or_default();
    values.push(uuid_array(parent_ids));
    sea_orm::Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        format!(
            "SELECT w.* FROM unnest(CAST(${} AS uuid[])) AS parent(id) CROSS JOIN LATERAL ({}) AS w",
            values.len(),
            inner.sql
        ),
        values,
    )
}

/// `query` (which has no limit of its own) with `LIMIT limit` written into its text rather
/// than bound. PostgreSQL plans a prepared statement again at every execution while a bound
/// value changes its cost as much as a limit does; with the limit in the text (a page size is
/// one of a few values), each connection plans the statement once and reuses the plan.
pub(crate) fn limited(
    backend: sea_orm::DatabaseBackend,
    query: &sea_orm::sea_query::SelectStatement,
    limit: u64,
) -> sea_orm::Statement {
    use std::fmt::Write;
    let mut statement = backend.build(query);
    let _ = write!(statement.sql, " LIMIT {limit}");
    statement
}

/// `column` is one of `ids`. On PostgreSQL the ids travel as one array (`= ANY`), so the
/// statement's text, and its prepared plan, are the same for any number of ids; SQLite gets an
/// `IN` list.
pub(crate) fn one_of(
    backend: sea_orm::DatabaseBackend,
    column: impl sea_orm::ColumnTrait,
    ids: &[Uuid],
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::Expr;
    if backend == sea_orm::DatabaseBackend::Postgres {
        Expr::cust_with_exprs(
            "$1 = ANY(CAST($2 AS uuid[]))",
            [column.into_expr(), Expr::val(uuid_array(ids))],
        )
    } else {
        column.is_in(ids.iter().copied())
    }
}

/// `ids` as one PostgreSQL `uuid[]` parameter, sent in binary. (As an array literal in text,
/// PostgreSQL parsed it again for every row a sequential scan compared against it.)
fn uuid_array(ids: &[Uuid]) -> sea_orm::Value {
    sea_orm::Value::Array(
        sea_orm::sea_query::ArrayType::Uuid,
        Some(Box::new(
            ids.iter()
                .map(|id| sea_orm::Value::Uuid(Some(*id)))
                .collect(),
        )),
    )
}

/// Which way the positions of a list run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Ascending,
    Descending,
}

/// A page of a list read whole (a short list, or one level's rows already loaded): the rows
/// put in the order of their `position` running `sort`, then the first `first` (capped as every
/// list is) after the `after` position. The cursor of a row that has gone since still finds
/// its place, since rows are compared by their key and id rather than looked up. Also returns
/// how many rows the whole list has.
pub fn slice<T>(
    rows: Vec<T>,
    first: i32,
    after: Option<&Position>,
    kind: KeyKind,
    sort: Sort,
    position: impl Fn(&T) -> Position,
) -> Result<(Page<T>, u64)> {
    if let Some(after) = after
        && after.key.kind() != kind
    {
        return Err(Error::invalid(
            "after",
            "is a cursor of another list or order",
        ));
    }
    let in_order = |a: &Position, b: &Position| {
        let order = compare_keys(&a.key, &b.key).then(a.id.cmp(&b.id));
        match sort {
            Sort::Ascending => order,
            Sort::Descending => order.reverse(),
        }
    };
    // Each row's position once (a text key is a copy), not once per comparison.
    let mut placed: Vec<(Position, T)> =
        rows.into_iter().map(|row| (position(&row), row)).collect();
    placed.sort_by(|(a, _), (b, _)| in_order(a, b));
    let total = placed.len() as u64;
    if let Some(after) = after {
        placed.retain(|(at, _)| in_order(at, after).is_gt());
    }
    let rows = placed.into_iter().map(|(_, row)| row).collect();
    let mut page = Page::first_of(rows, capped(first).max(0) as usize);
    page.has_previous_page = after.is_some();
    Ok((page, total))
}

/// The order of two sort keys of the same kind (keys of different kinds are equal).
pub(crate) fn compare_keys(a: &Key, b: &Key) -> std::cmp::Ordering {
    match (a, b) {
        (Key::Int(a), Key::Int(b)) => a.cmp(b),
        (Key::Time(a), Key::Time(b)) => a.cmp(b),
        (Key::Text(a), Key::Text(b)) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    }
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

/// The rows after `(at, id)` in newest-first order of (`time`, `id`): the keyset condition of
/// lists by time.
pub fn older_than(
    time: impl sea_orm::ColumnTrait,
    id: impl sea_orm::ColumnTrait,
    (at, after_id): (DateTime<Utc>, Uuid),
) -> sea_orm::Condition {
    sea_orm::Condition::any().add(time.lt(at)).add(
        sea_orm::Condition::all()
            .add(time.eq(at))
            .add(id.lt(after_id)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_after_the_ones_before_them() {
        let mut out = String::new();
        renumber(
            r#"SELECT "c"."id" FROM "c" WHERE "c"."a" = $1 AND "c"."b" > $12 LIMIT 6"#,
            3,
            &mut out,
        );
        assert_eq!(
            out,
            r#"SELECT "c"."id" FROM "c" WHERE "c"."a" = $4 AND "c"."b" > $15 LIMIT 6"#
        );
        let mut none = String::new();
        renumber("SELECT 1", 5, &mut none);
        assert_eq!(none, "SELECT 1");
    }

    fn at(name: &str, id: u128) -> Position {
        Position {
            key: Key::Text(name.to_string()),
            id: Uuid::from_u128(id),
        }
    }

    #[test]
    fn a_slice_sorts_pages_and_finds_the_place_of_a_row_gone_since() {
        let rows = vec![at("b", 2), at("a", 9), at("c", 3), at("b", 1)];
        let (page, total) = slice(
            rows.clone(),
            2,
            None,
            KeyKind::Text,
            Sort::Ascending,
            Clone::clone,
        )
        .unwrap();
        assert_eq!(total, 4);
        assert_eq!(page.items, vec![at("a", 9), at("b", 1)]);
        assert!(page.has_next_page && !page.has_previous_page);
        // ("b", 5) is not in the list: the page starts after where it would be.
        let gone = at("b", 5);
        let (page, _) = slice(
            rows.clone(),
            2,
            Some(&gone),
            KeyKind::Text,
            Sort::Ascending,
            Clone::clone,
        )
        .unwrap();
        assert_eq!(page.items, vec![at("c", 3)]);
        assert!(!page.has_next_page && page.has_previous_page);
        let (page, _) = slice(
            rows.clone(),
            100,
            Some(&gone),
            KeyKind::Text,
            Sort::Descending,
            Clone::clone,
        )
        .unwrap();
        assert_eq!(page.items, vec![at("b", 2), at("b", 1), at("a", 9)]);
        let time = Position {
            key: Key::Time(Utc::now()),
            id: Uuid::nil(),
        };
        let refused = slice(
            rows,
            2,
            Some(&time),
            KeyKind::Text,
            Sort::Ascending,
            Clone::clone,
        );
        assert!(
            matches!(refused, Err(Error::InvalidInput { .. })),
            "{refused:?}"
        );
    }
}
