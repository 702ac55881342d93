//! A client learns nothing of internal notes, anywhere: not their text, not that one was
//! written (no push, no gap in event numbers, no count, no search hit, no history line), and not
//! the staff-only SLA policy behind their ticket.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, World, email_of, gid};
use crate::subscriptions::{connected, listening, next, send};

const NOTE: &str = "internal xyzzy plugh";

async fn comment(app: &TestApp, token: &str, ticket: &str, body: &str, internal: bool) {
    app.comment_as(token, ticket, body, internal).await;
}

/// What a client can read about their ticket, as one query.
const CLIENT_VIEW: &str = "query($id: ID!, $word: String!) {
    ticket(id: $id) {
        updatedAt
        commentCount
        comments(first: 100) { nodes { body internal } }
        history(first: 100) { nodes { field oldValue newValue } }
        sla { policy { name } firstResponse { targetMinutes dueAt } resolution { targetMinutes } }
    }
    found: tickets(filter: { search: $word }) { totalCount }
    events(first: 100, filter: { ticketId: $id }) { nodes { sequence kind comment { body internal } } }
}";

#[tokio::test]
async fn a_client_sees_no_trace_of_an_internal_note() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let ticket = gid("Ticket", world.ticket_a);
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    comment(&app, &agent, &ticket, "public before", false).await;
    let variables = json!({ "id": ticket, "word": "xyzzy" });
    // The change feed shows events once the relay has published them.
    app.published().await;
    let before = app
        .graphql_as(&client, CLIENT_VIEW, variables.clone())
        .await;

    comment(&app, &agent, &ticket, NOTE, true).await;
    app.published().await;
    let after = app
        .graphql_as(&client, CLIENT_VIEW, variables.clone())
        .await;
    assert_eq!(before, after, "the note changed what the client sees");
    let text = after.to_string();
    assert!(!text.contains("xyzzy"), "{text}");
    assert_eq!(after["data"]["found"]["totalCount"], 0);
    assert!(
        after["data"]["ticket"]["sla"]["policy"].is_null(),
        "{after}"
    );
    assert!(
        after["data"]["ticket"]["sla"]["firstResponse"]["targetMinutes"].is_number(),
        "{after}"
    );

    // A public reply after the note: the client's event numbers run on without a gap.
    comment(&app, &agent, &ticket, "public after", false).await;
    app.published().await;
    let now = app
        .graphql_as(&client, CLIENT_VIEW, variables.clone())
        .await;
    let sequences: Vec<i64> = now["data"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(
        sequences,
        (1..=sequences.len() as i64).collect::<Vec<_>>(),
        "{now}"
    );
    assert!(!now.to_string().contains("xyzzy"), "{now}");

    // Staff see the note, its search hit and the full sequence (with the note's number).
    let staff = app.graphql_as(&agent, CLIENT_VIEW, variables).await;
    assert_eq!(staff["data"]["found"]["totalCount"], 1, "{staff}");
    assert!(staff["data"]["ticket"]["sla"]["policy"]["name"].is_string());
    let staff_events = staff["data"]["events"]["nodes"].as_array().unwrap();
    assert_eq!(staff_events.len(), sequences.len() + 1);
    assert_eq!(
        staff_events.last().unwrap()["sequence"].as_i64(),
        Some(sequences.len() as i64 + 1)
    );
}

const UPDATED: &str = "subscription($id: ID!) { ticketUpdated(id: $id) { commentCount comments(first: 100) { nodes { body } } } }";
const EVENTS: &str =
    "subscription { ticketEvents(after: \"0\") { sequence kind comment { body internal } } }";

fn last_body(push: &Value) -> &str {
    push["payload"]["data"]["ticketUpdated"]["comments"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.last())
        .and_then(|c| c["body"].as_str())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_client_gets_no_push_for_an_internal_note() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let ticket = gid("Ticket", world.ticket_a);
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let mut socket = connected(&app.address, &client).await;
    send(
        &mut socket,
        json!({ "id": "t", "type": "subscribe", "payload": { "query": UPDATED, "variables": { "id": ticket } } }),
    )
    .await;
    // A witness on the staff side, to know when the note has gone out to subscribers.
    let mut witness = connected(&app.address, &agent).await;
    send(
        &mut witness,
        json!({ "id": "w", "type": "subscribe", "payload": { "query": "subscription { ticketEvents(filter: { kinds: [COMMENT_CREATED] }) { comment { body } } }" } }),
    )
    .await;
    listening(&app.address, 2).await;

    comment(&app, &agent, &ticket, NOTE, true).await;
    let seen = next(&mut witness).await;
    assert_eq!(
        seen["payload"]["data"]["ticketEvents"]["comment"]["body"], NOTE,
        "{seen}"
    );
    comment(&app, &agent, &ticket, "public after", false).await;
    // The client's first push is the public reply: nothing came for the note before it.
    let first = next(&mut socket).await;
    assert_eq!(last_body(&first), "public after", "{first}");
    assert_eq!(first["payload"]["data"]["ticketUpdated"]["commentCount"], 1);
    comment(&app, &agent, &ticket, "public last", false).await;
    let second = next(&mut socket).await;
    assert_eq!(last_body(&second), "public last", "{second}");

    // Replaying the ticket's events: no note, and numbers without a gap.
    send(
        &mut socket,
        json!({ "id": "e", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    let mut sequences = Vec::new();
    while sequences.len() < 3 {
        let message = next(&mut socket).await;
        assert!(!message.to_string().contains("xyzzy"), "{message}");
        if message["id"] == "e" && message["payload"]["data"]["ticketEvents"]["kind"].is_string() {
            sequences.push(
                message["payload"]["data"]["ticketEvents"]["sequence"]
                    .as_i64()
                    .unwrap(),
            );
        }
    }
    assert_eq!(
        sequences,
        vec![1, 2, 3],
        "ticket.created, then the two replies"
    );
}
