//! Working time: around the clock, or a business calendar (a time zone, working intervals per
//! weekday, holidays). Pure functions, no database.
//!
//! Intervals are local wall-clock times, so "09:00–17:00" is 09:00–17:00 on both sides of a
//! daylight-saving change; the working time they hold is the real time that passes between
//! them. A local time that does not exist (in a spring-forward gap) means the first instant
//! after the gap; an ambiguous one (in a fall-back overlap) means its first occurrence.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Minutes in a day; an interval may end at 24:00.
pub const DAY_MINUTES: u32 = 24 * 60;
/// How far ahead a due date is looked for before it is called unreachable.
const HORIZON_DAYS: i64 = 366 * 20;

/// One working interval of a weekday, in minutes after local midnight, `from < to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub day: Weekday,
    pub from: u32,
    pub to: u32,
}

/// Why a calendar cannot be used, naming the input field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    zone: Tz,
    /// Monday first; sorted, merged intervals.
    week: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    pub fn new(
        time_zone: &str,
        intervals: &[Interval],
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, Invalid> {
        let zone: Tz = time_zone
            .parse()
            .map_err(|_| invalid("timeZone", format!("unknown time zone {time_zone:?}")))?;
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for interval in intervals {
            if interval.from >= interval.to || interval.to > DAY_MINUTES {
                return Err(invalid(
                    "workingHours",
                    "each interval must start before it ends, within the day (to 24:00)",
                ));
            }
            week[interval.day.num_days_from_monday() as usize].push((interval.from, interval.to));
        }
        for day in &mut week {
            day.sort_unstable();
            let mut merged: Vec<(u32, u32)> = Vec::with_capacity(day.len());
            for &(from, to) in day.iter() {
                match merged.last_mut() {
                    Some(last) if from <= last.1 => last.1 = last.1.max(to),
                    _ => merged.push((from, to)),
                }
            }
            *day = merged;
        }
        if week.iter().all(Vec::is_empty) {
            return Err(invalid(
                "workingHours",
                "a calendar needs at least one working interval",
            ));
        }
        Ok(Self {
            zone,
            week,
            holidays: holidays.into_iter().collect(),
        })
    }

    /// The instant of `minute` after local midnight of `date`.
    fn instant(&self, date: NaiveDate, minute: u32) -> DateTime<Utc> {
        let naive = date.and_time(chrono::NaiveTime::MIN) + Duration::minutes(minute.into());
        match self.zone.from_local_datetime(&naive) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => {
                // In a gap: the first local minute after it.
                let mut probe = naive;
                loop {
                    probe += Duration::minutes(1);
                    if let Some(t) = self.zone.from_local_datetime(&probe).earliest() {
                        return t.with_timezone(&Utc);
                    }
                }
            }
        }
    }

    /// The working intervals (as instants) from the local day of `from` on, clipped to start no
    /// earlier than `from`.
    fn intervals_from(
        &self,
        from: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let first = from.with_timezone(&self.zone).date_naive();
        (0..HORIZON_DAYS)
            .map(move |offset| first + Duration::days(offset))
            .filter(|date| !self.holidays.contains(date))
            .flat_map(move |date| {
                self.week[date.weekday().num_days_from_monday() as usize]
                    .iter()
                    .map(move |&(a, b)| (self.instant(date, a), self.instant(date, b)))
            })
            .filter_map(move |(start, end)| {
                let start = start.max(from);
                (end > start).then_some((start, end))
            })
    }
}

/// When a policy's clock runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Hours {
    /// 24/7.
    #[default]
    Always,
    Calendar(Calendar),
}

impl Hours {
    /// Working seconds in `[from, to)`; zero when `to <= from`.
    pub fn working_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        match self {
            Hours::Always => (to - from).num_seconds(),
            Hours::Calendar(calendar) => calendar
                .intervals_from(from)
                .take_while(|(start, _)| *start < to)
                .map(|(start, end)| (end.min(to) - start).num_seconds())
                .sum(),
        }
    }

    /// The earliest instant at which `seconds` of working time have passed since `from`.
    pub fn add(&self, from: DateTime<Utc>, seconds: i64) -> DateTime<Utc> {
        if seconds <= 0 {
            return from;
        }
        match self {
            Hours::Always => from + Duration::seconds(seconds),
            Hours::Calendar(calendar) => {
                let mut left = seconds;
                for (start, end) in calendar.intervals_from(from) {
                    let length = (end - start).num_seconds();
                    if left <= length {
                        return start + Duration::seconds(left);
                    }
                    left -= length;
                }
                // Only a calendar whose every working day is a holiday for decades gets here.
                DateTime::<Utc>::MAX_UTC
            }
        }
    }
}

/// `"09:30"` -> 570; `"24:00"` is the end of the day.
pub fn parse_minute(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minute = h * 60 + m;
    (m < 60 && minute <= DAY_MINUTES).then_some(minute)
}

pub fn format_minute(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_parse_and_print() {
        assert_eq!(parse_minute("09:30"), Some(570));
        assert_eq!(parse_minute("24:00"), Some(DAY_MINUTES));
        for bad in ["24:01", "9", "09:60", "x:00", ""] {
            assert_eq!(parse_minute(bad), None, "{bad:?}");
        }
        assert_eq!(format_minute(570), "09:30");
    }

    #[test]
    fn a_calendar_needs_working_time_and_a_known_zone() {
        let day = |from, to| Interval {
            day: Weekday::Mon,
            from,
            to,
        };
        assert_eq!(
            Calendar::new("UTC", &[], []).unwrap_err().field,
            "workingHours"
        );
        assert_eq!(
            Calendar::new("Mars/Olympus", &[day(540, 1020)], [])
                .unwrap_err()
                .field,
            "timeZone"
        );
        assert_eq!(
            Calendar::new("UTC", &[day(600, 540)], [])
                .unwrap_err()
                .field,
            "workingHours"
        );
    }
}
