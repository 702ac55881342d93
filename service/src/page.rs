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
