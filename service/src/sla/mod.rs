//! Service levels: policies per priority, business calendars, each ticket's clock, and the
//! scanner that warns, marks breaches and escalates.
//!
//! The calculator ([`clock::evaluate`]) is pure; this module keeps its inputs on the ticket row
//! (the policy, the standstills) and its results in columns the API filters on and the scanner
//! queues by (`resolution_due_at`, `sla_next_check_at`), rewriting them in the transaction of
//! every change that moves them.
//!
//! Where to look:
//! - [`policy`]: policies, calendars, the escalation ladder and the defaults;
//! - [`settle`]: each ticket's clock on its row;
//! - [`scan`]: the scanner that warns, marks breaches and fires levels;
//! - [`escalation`]: who is notified when a ticket breaches (a level's targets, resolved when
//!   it fires), the open escalations and their acknowledgement.

pub mod admin;
pub mod clock;
pub mod escalation;
pub mod hours;
pub mod policy;
pub mod scan;
pub mod settle;

pub use clock::{Clock, Evaluation, Pause, Phase, Status, Target, Targets};
pub use hours::{Calendar, Hours, Interval};
pub use policy::*;
pub use scan::{ScanReport, scan};
pub use settle::*;

#[cfg(test)]
mod tests;
