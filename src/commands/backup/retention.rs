//! Which backups a 7 daily / 4 weekly / 12 monthly rule keeps: the newest backup of each of
//! the last N days that have one, of the last N ISO weeks that have one, and of the last N
//! months that have one. A backup kept by any rule stays.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Datelike, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Keep {
    pub daily: usize,
    pub weekly: usize,
    pub monthly: usize,
}

/// A period's key: (year, day of the year), (ISO year, ISO week) or (year, month).
type Period = fn(DateTime<Utc>) -> (i32, u32);

/// The indices of `taken` (backup times, in any order) to keep.
pub fn kept(taken: &[DateTime<Utc>], keep: Keep) -> BTreeSet<usize> {
    let mut newest_first: Vec<usize> = (0..taken.len()).collect();
    newest_first.sort_by(|a, b| taken[*b].cmp(&taken[*a]));
    let mut kept = BTreeSet::new();
    let periods: [(usize, Period); 3] = [
        (keep.daily, |t| (t.year(), t.ordinal())),
        (keep.weekly, |t| {
            let week = t.iso_week();
            (week.year(), week.week())
        }),
        (keep.monthly, |t| (t.year(), t.month())),
    ];
    for (count, period) in periods {
        let mut seen = HashSet::new();
        for &index in &newest_first {
            if seen.len() == count {
                break;
            }
            // The first backup met in a period is its newest.
            if seen.insert(period(taken[index])) {
                kept.insert(index);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_newest_of_each_period_is_kept() {
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        // Two a day for 3 days: the evening one of each day.
        let taken = vec![
            at(2026, 12, 1, 2),
            at(2026, 12, 1, 20),
            at(2026, 12, 2, 2),
            at(2026, 12, 2, 20),
            at(2026, 12, 3, 2),
            at(2026, 12, 3, 20),
        ];
        let keep = Keep {
            daily: 2,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(kept(&taken, keep), BTreeSet::from([3, 5]));
        let keep = Keep {
            daily: 0,
            weekly: 1,
            monthly: 1,
        };
        assert_eq!(kept(&taken, keep), BTreeSet::from([5]));
        assert!(
            kept(
                &taken,
                Keep {
                    daily: 0,
                    weekly: 0,
                    monthly: 0
                }
            )
            .is_empty()
        );
    }
}
