//! Scalars of our own, where the library's would leak its Rust names into the schema.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, Utc};

/// A calendar day without a time or zone, `YYYY-MM-DD` (RFC 3339 `full-date`), e.g.
/// `2026-12-24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar day without a time or zone, `YYYY-MM-DD` (RFC 3339 `full-date`), e.g.
/// `2026-12-24`.
#[Scalar(
    name = "Date",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom("expected a day as YYYY-MM-DD")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

impl From<NaiveDate> for Date {
    fn from(day: NaiveDate) -> Self {
        Date(day)
    }
}

/// The schema's `DateTime`: a point in time as an RFC 3339 `date-time` with an offset, e.g.
/// `2026-12-24T09:30:00+00:00`. The server writes UTC; it reads any offset (`Z`, `+01:00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub chrono::DateTime<Utc>);

/// A point in time: an RFC 3339 `date-time` with an offset, e.g. `2026-12-24T09:30:00+00:00`.
/// Written in UTC; read with any offset (`Z`, `+01:00`).
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"
)]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| Timestamp(at.with_timezone(&Utc)))
                .map_err(|_| {
                    InputValueError::custom(
                        "expected an RFC 3339 date-time with an offset, e.g. 2026-12-24T09:30:00Z",
                    )
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339())
    }
}

impl From<chrono::DateTime<Utc>> for Timestamp {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Timestamp(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_any_offset_and_are_written_in_utc() {
        let at = Timestamp::parse(Value::String("2026-12-24T10:30:00+01:00".into())).unwrap();
        assert_eq!(
            at.to_value(),
            Value::String("2026-12-24T09:30:00+00:00".into())
        );
        assert!(Timestamp::parse(Value::String("2026-12-24 09:30".into())).is_err());
        assert!(Timestamp::parse(Value::String("2026-12-24T09:30:00".into())).is_err());
    }
}
