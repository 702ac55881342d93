//! The event log: every change writes its event in the same transaction; the change feed
//! reads them back within the reader's access.

use entity::enums::{TicketPriority, TicketStatus};
use entity::outbox_event;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, World, actor_of, email_of, gid};

const FEED: &str = "query($after: String, $first: Int, $filter: EventFilter) {
    events(after: $after, first: $first, filter: $filter) {
        nodes { id sequence kind actor { name } changes { field oldValue newValue } comment { body internal } ticket { title } }
        pageInfo { hasNextPage endCursor }
    }
}";

fn kinds(feed: &Value) -> Vec<String> {
    feed["data"]["events"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{feed}"))
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_change_writes_its_event_in_commit_order_with_a_per_ticket_sequence() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let agent = actor_of(db, world.agent_a).await;
    service::comment::create_as(db, &agent, world.ticket_a, "Looking", false)
        .await
        .unwrap();
    service::ticket::update(
        db,
        &agent,
        world.ticket_a,
        service::ticket::TicketChanges {
            priority: Some(TicketPriority::High),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    service::ticket::assign(db, &agent, world.ticket_a, Some(world.agent_a))
        .await
        .unwrap();
    service::ticket::transition(
        db,
        &agent,
        world.ticket_a,
        TicketStatus::Resolved,
        Some("Fixed".into()),
    )
    .await
    .unwrap();

    let token = app.login(&email_of("admin"), PASSWORD).await;
    app.published().await;
    let feed = app
        .graphql_as(
            &token,
            FEED,
            json!({ "filter": { "ticketId": gid("Ticket", world.ticket_a) } }),
        )
        .await;
    assert_eq!(
        kinds(&feed),
        vec![
            "TICKET_CREATED",
            "COMMENT_CREATED",
            "TICKET_UPDATED",
            "TICKET_ASSIGNED",
            "TICKET_STATUS_CHANGED",
            "COMMENT_CREATED"
        ]
    );
    let events = feed["data"]["events"]["nodes"].as_array().unwrap();
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(
        events[2]["changes"],
        json!([{ "field": "priority", "oldValue": "medium", "newValue": "high" }])
    );
    assert_eq!(
        events[4]["changes"],
        json!([{ "field": "status", "oldValue": "NEW", "newValue": "RESOLVED" }])
    );
    assert_eq!(
        events[5]["comment"],
        json!({ "body": "Fixed", "internal": false })
    );
    assert_eq!(events[1]["actor"]["name"], "agent_a");
}

#[tokio::test]
async fn a_refused_change_writes_no_event() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let client = actor_of(db, world.client_a).await;
    let before = outbox_event::Entity::find().count(db).await.unwrap();
    let refused =
        service::ticket::transition(db, &client, world.ticket_a, TicketStatus::InProgress, None)
            .await;
    assert_eq!(refused.unwrap_err().code(), "FORBIDDEN");
    let invalid = service::ticket::update(db, &client, world.ticket_a, Default::default()).await;
    assert!(invalid.is_err());
    assert_eq!(
        outbox_event::Entity::find().count(db).await.unwrap(),
        before
    );
}

#[tokio::test]
async fn the_feed_shows_only_what_the_reader_may_see_now() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let agent = actor_of(db, world.agent_a).await;
    service::comment::create_as(db, &agent, world.ticket_a, "Internal: call them", true)
        .await
        .unwrap();
    service::comment::create_as(db, &agent, world.ticket_a, "We are on it", false)
        .await
        .unwrap();

    let client_a = app.login(&email_of("client_a"), PASSWORD).await;
    app.published().await;
    let feed = app.graphql_as(&client_a, FEED, json!({})).await;
    assert_eq!(
        kinds(&feed),
        vec!["TICKET_CREATED", "COMMENT_CREATED"],
        "{feed}"
    );
    assert!(!feed.to_string().contains("call them"), "{feed}");
    let client_b = app.login(&email_of("client_b"), PASSWORD).await;
    let feed = app.graphql_as(&client_b, FEED, json!({})).await;
    assert_eq!(
        kinds(&feed),
        vec!["TICKET_CREATED"],
        "only B's own ticket: {feed}"
    );

    // An agent of B sees A's ticket while it is assigned to them, and not after.
    let agent_b = app.login(&email_of("agent_b"), PASSWORD).await;
    let filter = json!({ "filter": { "ticketId": gid("Ticket", world.ticket_a) } });
    assert_eq!(
        kinds(&app.graphql_as(&agent_b, FEED, filter.clone()).await),
        Vec::<String>::new()
    );
    entity::ticket::Entity::update(entity::ticket::ActiveModel {
        id: sea_orm::ActiveValue::Set(world.ticket_a),
        assignee_id: sea_orm::ActiveValue::Set(Some(world.agent_b)),
        ..Default::default()
    })
    .exec(db)
    .await
    .unwrap();
    assert_eq!(
        kinds(&app.graphql_as(&agent_b, FEED, filter.clone()).await).len(),
        3
    );
    let admin = actor_of(db, world.admin).await;
    service::ticket::assign(db, &admin, world.ticket_a, None)
        .await
        .unwrap();
    app.published().await;
    assert_eq!(
        kinds(&app.graphql_as(&agent_b, FEED, filter).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_feed_resumes_after_a_cursor_with_no_gap_and_no_duplicate() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let agent = actor_of(db, world.agent_a).await;
    let token = app.login(&email_of("admin"), PASSWORD).await;
    app.published().await;
    let first = app.graphql_as(&token, FEED, json!({ "first": 1 })).await;
    let cursor = first["data"]["events"]["pageInfo"]["endCursor"].clone();
    assert_eq!(first["data"]["events"]["pageInfo"]["hasNextPage"], true);
    for body in ["one", "two"] {
        service::comment::create_as(db, &agent, world.ticket_a, body, false)
            .await
            .unwrap();
    }
    app.published().await;
    let rest = app
        .graphql_as(&token, FEED, json!({ "after": cursor }))
        .await;
    let ids: Vec<i64> = first["data"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["data"]["events"]["nodes"].as_array().unwrap())
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let all = outbox_event::Entity::find().count(db).await.unwrap();
    assert_eq!(ids.len() as u64, all, "{rest}");
    let sorted = {
        let mut s = ids.clone();
        s.sort();
        s.dedup();
        s
    };
    assert_eq!(ids, sorted, "in order, without duplicates");
}

/// Reads commit nothing, so they never wake the relay: the only background statements while
/// they run are the relay's and the delivery worker's one-second polls.
#[tokio::test]
async fn read_only_requests_cause_no_background_statements() {
    use sea_orm::{ColumnTrait, QueryFilter};
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    // Wait until the relay has handed on the fixtures' events.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let pending = outbox_event::Entity::find()
            .filter(outbox_event::Column::PublishedAt.is_null())
            .count(app.db())
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events never published"
        );
        tokio::task::yield_now().await;
    }
    let before = app.metric("helpdesk_db_background_statements_total").await;
    let started = std::time::Instant::now();
    let reads = 50;
    for _ in 0..reads {
        let read = app
            .graphql_as(
                &agent,
                "query($id: ID!) { ticket(id: $id) { title comments { nodes { body } } } }",
                json!({ "id": gid("Ticket", world.ticket_a) }),
            )
            .await;
        assert!(read["data"]["ticket"]["title"].is_string(), "{read}");
    }
    let background = app.metric("helpdesk_db_background_statements_total").await - before;
    // A poll round of the relay and the delivery worker costs up to about 8 statements, one a
    // second; a read that woke the relay would cost one or two each (50 to 100 here).
    let rounds = started.elapsed().as_secs() as f64 + 2.0;
    assert!(
        background <= 8.0 * rounds,
        "{background} background statements during {reads} reads in {:?}",
        started.elapsed()
    );
}
