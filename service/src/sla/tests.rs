//! The calculator's named cases and properties.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::clock::{Clock, Pause, Phase, Status, Targets, evaluate};
use super::hours::{Calendar, Hours, Interval};

fn office(zone: &str, holidays: &[NaiveDate]) -> Hours {
    let days = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let intervals: Vec<Interval> = days
        .iter()
        .map(|day| Interval {
            day: *day,
            from: 9 * 60,
            to: 17 * 60,
        })
        .collect();
    Hours::Calendar(Calendar::new(zone, &intervals, holidays.iter().copied()).unwrap())
}

fn local(zone: &str, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    let tz: Tz = zone.parse().unwrap();
    tz.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn targets(first_response: i64, resolution: i64) -> Targets {
    Targets {
        first_response_minutes: first_response,
        resolution_minutes: resolution,
        warn_before_minutes: 0,
    }
}

fn running(started_at: DateTime<Utc>, pauses: Vec<Pause>) -> Clock {
    Clock {
        started_at,
        pauses,
        first_response_at: None,
        phase: Phase::Running,
    }
}

#[test]
fn friday_afternoon_plus_four_working_hours_is_monday_noon() {
    let hours = office("UTC", &[]);
    // 2026-11-20 is a Friday.
    let due = hours.add(local("UTC", 2026, 11, 20, 16, 0), 4 * 3600);
    assert_eq!(due, local("UTC", 2026, 11, 23, 12, 0));
}

#[test]
fn the_same_across_daylight_saving_changes() {
    // Berlin leaves summer time on Sunday 2026-10-25: Monday noon is 11:00 UTC, not 10:00.
    let hours = office("Europe/Berlin", &[]);
    let due = hours.add(local("Europe/Berlin", 2026, 10, 23, 16, 0), 4 * 3600);
    assert_eq!(due, local("Europe/Berlin", 2026, 10, 26, 12, 0));
    assert_eq!(due, Utc.with_ymd_and_hms(2026, 10, 26, 11, 0, 0).unwrap());
    // New York enters summer time on Sunday 2026-03-08.
    let hours = office("America/New_York", &[]);
    let due = hours.add(local("America/New_York", 2026, 3, 6, 16, 0), 4 * 3600);
    assert_eq!(due, Utc.with_ymd_and_hms(2026, 3, 9, 16, 0, 0).unwrap());
}

#[test]
fn the_same_across_a_holiday() {
    let hours = office("Europe/Berlin", &[date(2026, 11, 23)]);
    let due = hours.add(local("Europe/Berlin", 2026, 11, 20, 16, 0), 4 * 3600);
    assert_eq!(due, local("Europe/Berlin", 2026, 11, 24, 12, 0));
}

#[test]
fn two_paused_hours_survive_a_priority_change() {
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    // Waiting for the customer from 09:00 to 11:00, then the priority changes at 12:00.
    let clock = running(
        start,
        vec![Pause {
            from: start + Duration::hours(1),
            to: Some(start + Duration::hours(3)),
        }],
    );
    let now = start + Duration::hours(4);
    let medium = evaluate(&Hours::Always, &targets(8 * 60, 72 * 60), &clock, now);
    let critical = evaluate(&Hours::Always, &targets(60, 4 * 60), &clock, now);
    assert_eq!(medium.resolution.paused_minutes, 120);
    assert_eq!(critical.resolution.paused_minutes, 120);
    assert_eq!(
        critical.resolution.due_at,
        start + Duration::hours(4) + Duration::hours(2)
    );
    assert_eq!(critical.resolution.status, Status::Active);
    assert_eq!(critical.resolution.remaining_minutes, Some(120));
}

#[test]
fn the_resolution_clock_pauses_stops_and_resumes() {
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    let t = targets(60, 4 * 60);
    // Waiting for the customer since 09:00: paused, the remaining time frozen at 3 hours.
    let mut clock = running(
        start,
        vec![Pause {
            from: start + Duration::hours(1),
            to: None,
        }],
    );
    clock.phase = Phase::Paused;
    let later = start + Duration::hours(30);
    let paused = evaluate(&Hours::Always, &t, &clock, later);
    assert_eq!(paused.resolution.status, Status::Paused);
    assert_eq!(paused.resolution.remaining_minutes, Some(180));
    assert_eq!(paused.resolution.paused_minutes, 29 * 60);
    assert_eq!(paused.resolution.due_at, later + Duration::hours(3));
    // Resolved while the target was ahead: met, and it stays met.
    clock.phase = Phase::Stopped;
    let met = evaluate(&Hours::Always, &t, &clock, later + Duration::days(9));
    assert_eq!(met.resolution.status, Status::Met);
    // Reopened: the clock runs again from where it stood.
    clock.pauses[0].to = Some(later);
    clock.phase = Phase::Running;
    let reopened = evaluate(&Hours::Always, &t, &clock, later);
    assert_eq!(reopened.resolution.status, Status::Active);
    assert_eq!(reopened.resolution.due_at, later + Duration::hours(3));
    let overdue = evaluate(&Hours::Always, &t, &clock, later + Duration::hours(4));
    assert_eq!(overdue.resolution.status, Status::Breached);
    assert_eq!(overdue.resolution.remaining_minutes, Some(-60));
}

#[test]
fn first_response_is_met_by_a_reply_in_time_and_breached_after() {
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
    let t = targets(60, 4 * 60);
    let mut clock = running(start, vec![]);
    clock.first_response_at = Some(start + Duration::minutes(59));
    let now = start + Duration::hours(2);
    assert_eq!(
        evaluate(&Hours::Always, &t, &clock, now)
            .first_response
            .status,
        Status::Met
    );
    clock.first_response_at = None;
    let late = evaluate(&Hours::Always, &t, &clock, now);
    assert_eq!(late.first_response.status, Status::Breached);
    assert_eq!(late.first_response.remaining_minutes, Some(-60));
}

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
];

fn weekday(n: u32) -> Weekday {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ][n as usize % 7]
}

prop_compose! {
    fn interval()(day in 0u32..7, from in 0u32..(24 * 4 - 1), length in 1u32..40) -> Interval {
        let from = from * 15;
        Interval { day: weekday(day), from, to: (from + length * 15).min(24 * 60) }
    }
}

prop_compose! {
    fn hours()(
        always in proptest::bool::weighted(0.15),
        zone in 0..ZONES.len(),
        intervals in proptest::collection::vec(interval(), 1..8),
        holidays in proptest::collection::vec(0i64..400, 0..12),
    ) -> Hours {
        if always {
            return Hours::Always;
        }
        let base = date(2026, 1, 1);
        let holidays: Vec<NaiveDate> = holidays.iter().map(|d| base + Duration::days(*d)).collect();
        Hours::Calendar(Calendar::new(ZONES[zone], &intervals, holidays).unwrap())
    }
}

prop_compose! {
    /// Instants through 2026, minute-aligned or not, so DST changes and midnights are crossed.
    fn instant()(seconds in 0i64..(366 * 24 * 3600)) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(seconds)
    }
}

prop_compose! {
    fn pauses(start: DateTime<Utc>)(
        spans in proptest::collection::vec((0i64..(20 * 24 * 60), 0i64..(4 * 24 * 60)), 0..5),
    ) -> Vec<Pause> {
        spans
            .iter()
            .map(|(offset, length)| {
                let from = start + Duration::minutes(*offset);
                Pause { from, to: Some(from + Duration::minutes(*length)) }
            })
            .collect()
    }
}

fn clock_and_pauses() -> impl Strategy<Value = (DateTime<Utc>, Vec<Pause>)> {
    instant().prop_flat_map(|start| (Just(start), pauses(start)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The working time between a start and its due date is the target, and no earlier
    /// instant has it.
    #[test]
    fn working_time_up_to_the_due_date_is_the_target(
        hours in hours(),
        start in instant(),
        minutes in 1i64..6000,
    ) {
        let due = hours.add(start, minutes * 60);
        prop_assert_eq!(hours.working_seconds(start, due), minutes * 60);
        prop_assert!(hours.working_seconds(start, due - Duration::seconds(1)) < minutes * 60);
    }

    /// With standstills, the running time up to the due date is the target.
    #[test]
    fn running_time_up_to_the_due_date_is_the_target(
        hours in hours(),
        (start, pauses) in clock_and_pauses(),
        minutes in 1i64..6000,
    ) {
        let clock = running(start, pauses.clone());
        let now = start + Duration::days(60);
        let due = evaluate(&hours, &targets(60, minutes), &clock, now).resolution.due_at;
        // Merge the standstills, then count the working time the clock ran.
        let mut spans: Vec<_> = pauses.iter().map(|p| (p.from, p.to.unwrap())).collect();
        spans.sort();
        let mut stood = 0;
        let mut reach = start;
        for (from, to) in spans {
            let from = from.max(reach).min(due);
            let to = to.min(due);
            if to > from {
                stood += hours.working_seconds(from, to);
                reach = to;
            }
        }
        prop_assert_eq!(hours.working_seconds(start, due) - stood, minutes * 60);
    }

    /// A standstill never moves a due date earlier.
    #[test]
    fn a_pause_never_moves_a_due_date_earlier(
        hours in hours(),
        (start, pauses) in clock_and_pauses(),
        extra in (0i64..(20 * 24 * 60), 0i64..(3 * 24 * 60)),
        minutes in 1i64..6000,
    ) {
        let now = start + Duration::days(60);
        let t = targets(60, minutes);
        let before = evaluate(&hours, &t, &running(start, pauses.clone()), now);
        let mut more = pauses;
        let from = start + Duration::minutes(extra.0);
        more.push(Pause { from, to: Some(from + Duration::minutes(extra.1)) });
        let after = evaluate(&hours, &t, &running(start, more), now);
        prop_assert!(after.resolution.due_at >= before.resolution.due_at);
        prop_assert!(after.resolution.paused_minutes >= before.resolution.paused_minutes);
    }

    /// The order in which standstills were recorded does not matter.
    #[test]
    fn results_do_not_depend_on_the_order_of_events(
        hours in hours(),
        (start, pauses) in clock_and_pauses(),
        minutes in 1i64..6000,
        now_offset in 0i64..(40 * 24 * 60),
    ) {
        let now = start + Duration::minutes(now_offset);
        let t = targets(30, minutes);
        let forward = evaluate(&hours, &t, &running(start, pauses.clone()), now);
        let mut reversed = pauses;
        reversed.reverse();
        let backward = evaluate(&hours, &t, &running(start, reversed), now);
        prop_assert_eq!(forward, backward);
    }

    /// A new target (a priority change) keeps the time the clock stood still: the paused
    /// minutes are the same, and the due date is the new target's, counted with them.
    #[test]
    fn a_policy_change_keeps_the_paused_time(
        hours in hours(),
        (start, pauses) in clock_and_pauses(),
        old in 1i64..6000,
        new in 1i64..6000,
    ) {
        let now = start + Duration::days(30);
        let clock = running(start, pauses);
        let before = evaluate(&hours, &targets(60, old), &clock, now);
        let after = evaluate(&hours, &targets(60, new), &clock, now);
        prop_assert_eq!(before.resolution.paused_minutes, after.resolution.paused_minutes);
        let fresh = evaluate(&hours, &targets(60, new), &clock.clone(), now);
        prop_assert_eq!(after, fresh);
        if new > old {
            prop_assert!(after.resolution.due_at > before.resolution.due_at);
        }
    }

    /// Pausing and resuming through the status changes (as the service records them) gives
    /// the same clock as writing the standstill down at once.
    #[test]
    fn recording_a_pause_step_by_step_equals_recording_it_whole(
        hours in hours(),
        start in instant(),
        wait in (1i64..(5 * 24 * 60), 1i64..(5 * 24 * 60)),
        minutes in 1i64..6000,
    ) {
        use entity::enums::TicketStatus::*;
        let paused_at = start + Duration::minutes(wait.0);
        let resumed_at = paused_at + Duration::minutes(wait.1);
        let step = super::pauses_after(Vec::new(), Some(Open), PendingInfo, paused_at);
        let step = super::pauses_after(step, Some(PendingInfo), Open, resumed_at);
        let whole = vec![Pause { from: paused_at, to: Some(resumed_at) }];
        prop_assert_eq!(&step, &whole);
        let now = resumed_at + Duration::hours(1);
        let t = targets(60, minutes);
        prop_assert_eq!(
            evaluate(&hours, &t, &running(start, step), now),
            evaluate(&hours, &t, &running(start, whole), now)
        );
    }
}
