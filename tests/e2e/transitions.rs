//! The ticket lifecycle: every (from, to) pair for every kind of actor.

use entity::enums::TicketStatus::{self, *};
use entity::{ticket, ticket_history};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use service::lifecycle::{self, ALL};

use crate::helpers::{PASSWORD, TestApp, World, actor_of, email_of, gid, new_ticket};

/// The steps that bring a new ticket to `status`.
fn path_to(status: TicketStatus) -> &'static [TicketStatus] {
    match status {
        New => &[],
        Open => &[Open],
        InProgress => &[InProgress],
        PendingInfo => &[Open, PendingInfo],
        Resolved => &[Resolved],
        Closed => &[Closed],
    }
}

async fn status_changes(db: &DatabaseConnection, id: uuid::Uuid) -> u64 {
    ticket_history::Entity::find()
        .filter(ticket_history::Column::TicketId.eq(id))
        .filter(ticket_history::Column::Field.eq("status"))
        .count(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_transition_for_every_role_is_allowed_or_refused_with_its_code() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let admin = actor_of(db, world.admin).await;
    // Staff with access (an agent of the ticket's organization and a superagent), and the
    // requester, a client.
    let actors = [
        ("superagent", actor_of(db, world.superagent).await),
        ("agent_a", actor_of(db, world.agent_a).await),
        ("client_a", actor_of(db, world.client_a).await),
    ];
    let mut checked = 0;
    for (who, actor) in &actors {
        for from in ALL {
            for to in ALL {
                let created = service::ticket::create(
                    db,
                    Some(world.client_a),
                    new_ticket(world.org_a, world.client_a, "Lifecycle"),
                )
                .await
                .unwrap();
                for step in path_to(from) {
                    service::ticket::transition(db, &admin, created.id, *step, None)
                        .await
                        .unwrap();
                }
                let before = status_changes(db, created.id).await;
                let result = service::ticket::transition(db, actor, created.id, to, None).await;
                let expected = if !lifecycle::is_edge(from, to) {
                    Err("INVALID_TRANSITION")
                } else if actor.is_staff() || lifecycle::requester_may(from, to) {
                    Ok(())
                } else {
                    Err("FORBIDDEN")
                };
                let after = ticket::Entity::find_by_id(created.id)
                    .one(db)
                    .await
                    .unwrap()
                    .unwrap();
                match (expected, result) {
                    (Ok(()), Ok(moved)) => {
                        assert_eq!(moved.status, to, "{who} {from:?}->{to:?}");
                        assert_eq!(
                            status_changes(db, created.id).await,
                            before + 1,
                            "{who} {from:?}->{to:?}: history"
                        );
                        match to {
                            Resolved => {
                                assert!(after.resolved_at.is_some() && after.closed_at.is_none())
                            }
                            Closed => {
                                assert!(after.closed_at.is_some() && after.resolved_at.is_some())
                            }
                            _ if lifecycle::is_reopen(from, to) => {
                                assert_eq!(after.reopened_count, 1, "{who} {from:?}->{to:?}");
                                assert!(after.resolved_at.is_none() && after.closed_at.is_none());
                            }
                            _ => {}
                        }
                    }
                    (Err(code), Err(err)) => {
                        assert_eq!(err.code(), code, "{who} {from:?}->{to:?}: {err}");
                        assert_eq!(
                            after.status, from,
                            "{who} {from:?}->{to:?}: a refusal changed the status"
                        );
                        assert_eq!(
                            status_changes(db, created.id).await,
                            before,
                            "{who} {from:?}->{to:?}: history written"
                        );
                    }
                    (expected, got) => panic!(
                        "{who} {from:?}->{to:?}: expected {expected:?}, got {:?}",
                        got.map(|t| t.status)
                    ),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3 * 36);
}

#[tokio::test]
async fn available_transitions_follow_the_viewer_and_invalid_ones_are_user_errors() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = actor_of(app.db(), world.admin).await;
    service::ticket::transition(app.db(), &admin, world.ticket_a, Resolved, None)
        .await
        .unwrap();
    let query = "query($id: ID!) { ticket(id: $id) { status availableTransitions } }";
    let id = gid("Ticket", world.ticket_a);
    for (who, expected) in [
        ("agent_a", json!(["OPEN", "CLOSED"])),
        ("client_a", json!(["OPEN", "CLOSED"])),
    ] {
        let token = app.login(&email_of(who), PASSWORD).await;
        let response = app.graphql_as(&token, query, json!({ "id": id })).await;
        assert_eq!(
            response["data"]["ticket"]["availableTransitions"], expected,
            "{who}: {response}"
        );
    }
    let token = app.login(&email_of("agent_a"), PASSWORD).await;
    let move_to = "mutation($id: ID!, $to: TicketStatus!) { ticketTransition(input: { id: $id, to: $to, comment: \"Looking again\" }) { ticket { status reopenedCount } userErrors { field code } } }";
    let invalid = app
        .graphql_as(&token, move_to, json!({ "id": id, "to": "IN_PROGRESS" }))
        .await;
    assert_eq!(
        invalid["data"]["ticketTransition"]["userErrors"],
        json!([{ "field": "to", "code": "INVALID_TRANSITION" }]),
        "{invalid}"
    );
    let reopened = app
        .graphql_as(&token, move_to, json!({ "id": id, "to": "OPEN" }))
        .await;
    assert_eq!(
        reopened["data"]["ticketTransition"]["ticket"],
        json!({ "status": "OPEN", "reopenedCount": 1 }),
        "{reopened}"
    );

    // Closed tickets are reopened by staff only.
    service::ticket::transition(app.db(), &admin, world.ticket_a, Closed, None)
        .await
        .unwrap();
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let response = app.graphql_as(&client, query, json!({ "id": id })).await;
    assert_eq!(
        response["data"]["ticket"]["availableTransitions"],
        json!([]),
        "{response}"
    );
}

#[tokio::test]
async fn a_requesters_reply_reopens_a_pending_ticket_and_staff_set_first_response() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let agent = actor_of(db, world.agent_a).await;
    let client = actor_of(db, world.client_a).await;
    service::ticket::transition(db, &agent, world.ticket_a, Open, None)
        .await
        .unwrap();

    let (_, ticket) = service::comment::create_as(db, &agent, world.ticket_a, "A note", true)
        .await
        .unwrap();
    assert!(
        ticket.first_response_at.is_none(),
        "an internal note is not a response"
    );
    let (_, ticket) =
        service::comment::create_as(db, &agent, world.ticket_a, "Which version?", false)
            .await
            .unwrap();
    let first_response = ticket
        .first_response_at
        .expect("set by the first public staff reply");

    service::ticket::transition(db, &agent, world.ticket_a, PendingInfo, None)
        .await
        .unwrap();
    let (_, ticket) =
        service::comment::create_as(db, &client, world.ticket_a, "Version 2.1", false)
            .await
            .unwrap();
    assert_eq!(ticket.status, Open);
    let (_, ticket) = service::comment::create_as(db, &agent, world.ticket_a, "Thanks", false)
        .await
        .unwrap();
    assert_eq!(
        ticket.first_response_at,
        Some(first_response),
        "only the first reply counts"
    );
}
