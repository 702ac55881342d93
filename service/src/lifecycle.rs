//! The ticket state machine: the one place that says which status may follow which, and who
//! may take each step.
//!
//! ```text
//! NEW          -> OPEN | IN_PROGRESS | RESOLVED | CLOSED
//! OPEN         -> IN_PROGRESS | PENDING_INFO | RESOLVED | CLOSED
//! IN_PROGRESS  -> OPEN | PENDING_INFO | RESOLVED | CLOSED
//! PENDING_INFO -> OPEN | IN_PROGRESS | RESOLVED | CLOSED
//! RESOLVED     -> OPEN (reopen) | CLOSED
//! CLOSED       -> OPEN (reopen, staff only)
//! ```
//!
//! Staff who may work a ticket take any edge. Its requester (a client) may close it from any
//! open status and reopen it while it is RESOLVED.

use entity::enums::TicketStatus::{self, *};

/// Every status, in lifecycle order.
pub const ALL: [TicketStatus; 6] = [New, Open, InProgress, PendingInfo, Resolved, Closed];

/// The statuses that may follow `from`, for anyone.
pub fn successors(from: TicketStatus) -> &'static [TicketStatus] {
    match from {
        New => &[Open, InProgress, Resolved, Closed],
        Open => &[InProgress, PendingInfo, Resolved, Closed],
        InProgress => &[Open, PendingInfo, Resolved, Closed],
        PendingInfo => &[Open, InProgress, Resolved, Closed],
        Resolved => &[Open, Closed],
        Closed => &[Open],
    }
}

pub fn is_edge(from: TicketStatus, to: TicketStatus) -> bool {
    successors(from).contains(&to)
}

/// Whether the ticket's requester (a client) may take this edge.
pub fn requester_may(from: TicketStatus, to: TicketStatus) -> bool {
    is_edge(from, to) && (to == Closed || (from == Resolved && to == Open))
}

/// A move back out of RESOLVED or CLOSED counts as a reopen.
pub fn is_reopen(from: TicketStatus, to: TicketStatus) -> bool {
    matches!(from, Resolved | Closed) && to == Open
}

/// The API's name of a status (`IN_PROGRESS`), used in messages and history.
pub fn name(status: TicketStatus) -> &'static str {
    match status {
        New => "NEW",
        Open => "OPEN",
        InProgress => "IN_PROGRESS",
        PendingInfo => "PENDING_INFO",
        Resolved => "RESOLVED",
        Closed => "CLOSED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_status_follows_itself_and_every_status_can_be_left() {
        for status in ALL {
            assert!(!is_edge(status, status), "{status:?}");
            assert!(!successors(status).is_empty(), "{status:?}");
        }
    }

    #[test]
    fn requesters_only_close_and_reopen_resolved_tickets() {
        let mut allowed = Vec::new();
        for from in ALL {
            for to in ALL {
                if requester_may(from, to) {
                    allowed.push((from, to));
                }
            }
        }
        assert_eq!(
            allowed,
            vec![
                (New, Closed),
                (Open, Closed),
                (InProgress, Closed),
                (PendingInfo, Closed),
                (Resolved, Open),
                (Resolved, Closed),
            ]
        );
    }
}
