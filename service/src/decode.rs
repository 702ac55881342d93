//! Rows of the models read in bulk on every page (tickets, comments, people, organizations),
//! decoded by their position in the select list.
//!
//! SeaORM's derived decoding looks each column up by its name and, for a NULL in an optional
//! column, formats an error message that it then drops; over a dashboard page (fifty tickets of
//! thirty columns, two hundred and fifty comments) that was about a tenth of the server's CPU
//! on PostgreSQL, and a fifth of all the work on SQLite. These models read their columns by
//! position, in the order of their `Column` enum, which is the order `Entity::find()` and
//! [`crate::page`] select them in (checked by name in debug builds, and by the tests below),
//! through the same sqlx decoding SeaORM uses.
//!
//! On PostgreSQL the column types are the migrations' own, so release builds skip sqlx's check
//! of each value's type against the Rust type (a third of the decoding); debug builds, which run
//! the test suite on PostgreSQL, keep it. Timestamps are read straight from their binary form.

use sea_orm::prelude::DateTimeUtc;
use sea_orm::sqlx::postgres::{PgRow, PgValueFormat, Postgres};
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::{self, Row, ValueRef};
use sea_orm::{ActiveEnum, DbErr, FromQueryResult, QueryResult};

/// A model decoded by position where the row allows it; see the module.
pub(crate) struct Positional<M>(pub M);

/// One column's value, read from its position in a row of `R` (PostgreSQL's or SQLite's).
pub(crate) trait Column<R>: Sized {
    fn read(row: &R, index: usize) -> Result<Self, sqlx::Error>;
}

/// The value at `index` of a PostgreSQL row, decoded as the models' columns are.
pub(crate) fn value<T: Column<PgRow>>(row: &PgRow, index: usize) -> Result<T, DbErr> {
    T::read(row, index).map_err(|err| DbErr::Type(err.to_string()))
}

/// The value at `index`, its type checked against `T` in debug builds only (see the module).
fn get<'r, T>(row: &'r PgRow, index: usize) -> Result<T, sqlx::Error>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    if cfg!(debug_assertions) {
        row.try_get(index)
    } else {
        row.try_get_unchecked(index)
    }
}

macro_rules! decoded {
    ($($ty:ty),* $(,)?) => {$(
        impl Column<PgRow> for $ty {
            fn read(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
                get(row, index)
            }
        }

        impl Column<SqliteRow> for $ty {
            fn read(row: &SqliteRow, index: usize) -> Result<Self, sqlx::Error> {
                row.try_get(index)
            }
        }
    )*};
}

decoded!(
    i16,
    sea_orm::prelude::Uuid,
    Option<sea_orm::prelude::Uuid>,
    i32,
    i64,
    bool,
    String,
    Option<String>,
    Option<sea_orm::prelude::Json>,
);

impl Column<SqliteRow> for DateTimeUtc {
    fn read(row: &SqliteRow, index: usize) -> Result<Self, sqlx::Error> {
        row.try_get(index)
    }
}

impl Column<SqliteRow> for Option<DateTimeUtc> {
    fn read(row: &SqliteRow, index: usize) -> Result<Self, sqlx::Error> {
        row.try_get(index)
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A `timestamptz`: microseconds since 2000-01-01 in binary rows; sqlx's decoding (and its
/// refusal of any other type) otherwise. Release builds take the column's type as the
/// migrations' own, as [`get`] does.
fn timestamp(row: &PgRow, index: usize) -> Result<Option<DateTimeUtc>, sqlx::Error> {
    let value = row.try_get_raw(index)?;
    if value.is_null() {
        return Ok(None);
    }
    let binary = (value.format() == PgValueFormat::Binary
        && (!cfg!(debug_assertions)
            || <DateTimeUtc as sqlx::Type<Postgres>>::compatible(&value.type_info())))
    .then(|| value.as_bytes().ok())
    .flatten()
    .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
    .and_then(|bytes| i64::from_be_bytes(bytes).checked_add(POSTGRES_EPOCH_MICROS))
    .and_then(DateTimeUtc::from_timestamp_micros);
    let Some(at) = binary else {
        return row.try_get(index);
    };
    debug_assert_eq!(
        row.try_get::<Option<DateTimeUtc>, _>(index).ok(),
        Some(Some(at))
    );
    Ok(Some(at))
}

impl Column<PgRow> for DateTimeUtc {
    fn read(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        timestamp(row, index)?.ok_or_else(|| sqlx::Error::ColumnDecode {
            index: index.to_string(),
            source: "unexpected NULL".into(),
        })
    }
}

impl Column<PgRow> for Option<DateTimeUtc> {
    fn read(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        timestamp(row, index)
    }
}

/// Enums stored as their string value.
macro_rules! stored_as_text {
    ($($ty:ty),* $(,)?) => {$(
        impl<R> Column<R> for $ty
        where
            String: Column<R>,
        {
            fn read(row: &R, index: usize) -> Result<Self, sqlx::Error> {
                let value = String::read(row, index)?;
                <$ty>::try_from_value(&value).map_err(|err| sqlx::Error::ColumnDecode {
                    index: index.to_string(),
                    source: Box::new(err),
                })
            }
        }
    )*};
}

stored_as_text!(
    entity::enums::TicketStatus,
    entity::enums::TicketPriority,
    entity::enums::TicketCategory,
    entity::enums::Role,
);

/// `row`'s columns as an `entity::$model::Model`: field number `n` (in the order given) at
/// the column `$at(n)` gives; checked by name, in debug builds, when `$named`.
macro_rules! fields {
    ($row:ident, $at:expr, $named:expr, $model:ident { $($field:ident),* }) => {{
        let at = $at;
        let read = || -> Result<entity::$model::Model, sqlx::Error> {
            let mut field = 0;
            $(
                let index = at(field)?;
                debug_assert!(
                    !$named
                        || $row.try_column(index).map(sqlx::Column::name).ok()
                            == Some(stringify!($field)),
                    "column {index} of a {} row",
                    stringify!($model),
                );
                let $field = Column::read($row, index)?;
                field += 1;
            )*
            let _ = field;
            Ok(entity::$model::Model { $($field),* })
        };
        read()
            .map(Positional)
            .map_err(|err| DbErr::Type(err.to_string()))
    }};
}

/// The column of field `field` in a row whose model's columns start at `offset`.
fn from(offset: usize) -> impl Fn(usize) -> Result<usize, sqlx::Error> {
    move |field| Ok(offset + field)
}

/// The column of field `field` in a row that gives each field's column in `columns`.
fn listed(columns: &[usize]) -> impl Fn(usize) -> Result<usize, sqlx::Error> + '_ {
    move |field| {
        columns
            .get(field)
            .copied()
            .ok_or_else(|| sqlx::Error::ColumnIndexOutOfBounds {
                index: field,
                len: columns.len(),
            })
    }
}

macro_rules! positional {
    ($model:ident { $($field:ident),* $(,)? }) => {
        #[cfg(test)]
        impl Positional<entity::$model::Model> {
            /// The model's fields in the order they are read.
            const FIELDS: &[&str] = &[$(stringify!($field)),*];
        }

        impl FromQueryResult for Positional<entity::$model::Model> {
            fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
                if pre.is_empty() {
                    if let Some(row) = res.try_as_pg_row() {
                        return fields!(row, from(0), true, $model { $($field),* });
                    }
                    if let Some(row) = res.try_as_sqlite_row() {
                        return fields!(row, from(0), true, $model { $($field),* });
                    }
                }
                entity::$model::Model::from_query_result(res, pre).map(Positional)
            }
        }

        impl Positional<entity::$model::Model> {
            /// The model from a PostgreSQL row that holds its columns at `columns`, one for
            /// each column of the model, in order.
            #[allow(dead_code)]
            pub(crate) fn mapped(row: &PgRow, columns: &[usize]) -> Result<Self, DbErr> {
                fields!(row, listed(columns), false, $model { $($field),* })
            }
        }
    };
}

positional!(ticket {
    id,
    number,
    title,
    description,
    status,
    priority,
    category,
    requester_id,
    assignee_id,
    organization_id,
    first_response_at,
    resolved_at,
    closed_at,
    reopened_count,
    deleted_at,
    created_at,
    updated_at,
    sla_policy_id,
    sla_pauses,
    sla_paused_since,
    first_response_due_at,
    resolution_due_at,
    sla_next_check_at,
    first_response_warned_at,
    first_response_breached_at,
    resolution_warned_at,
    resolution_breached_at,
});

positional!(comment {
    id,
    ticket_id,
    author_id,
    body,
    is_internal,
    created_at,
    updated_at,
});

positional!(user {
    id,
    email,
    name,
    password_hash,
    role,
    is_approved,
    is_locked,
    lock_reason,
    locked_until,
    failed_login_count,
    last_login_at,
    session_epoch,
    created_at,
    updated_at,
});

positional!(organization {
    id,
    name,
    email,
    phone,
    address,
    description,
    time_zone,
    created_at,
    updated_at,
});

#[cfg(test)]
mod tests {
    use super::Positional;
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    fn columns<E: EntityTrait>() -> Vec<&'static str> {
        E::Column::iter().map(|c| c.as_str()).collect()
    }

    /// The fields are read in the order `Entity::find()` selects their columns.
    #[test]
    fn fields_are_read_in_the_order_of_the_columns() {
        use entity::{comment, organization, ticket, user};
        assert_eq!(
            Positional::<ticket::Model>::FIELDS,
            columns::<ticket::Entity>()
        );
        assert_eq!(
            Positional::<comment::Model>::FIELDS,
            columns::<comment::Entity>()
        );
        assert_eq!(Positional::<user::Model>::FIELDS, columns::<user::Entity>());
        assert_eq!(
            Positional::<organization::Model>::FIELDS,
            columns::<organization::Entity>()
        );
    }
}
