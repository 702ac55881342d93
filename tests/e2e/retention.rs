//! What the retention job removes, and what a reader whose cursor it overtook is told.

use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, World, actor_of, email_of, error_code, test_keyring};
use crate::subscriptions::{connected, next, send};

const FEED: &str = "query($after: String) { events(after: $after, first: 100) { nodes { position kind } pageInfo { endCursor } } }";

fn policy(event_days: i64, failed_delivery_days: i64) -> service::jobs::RetentionPolicy {
    service::jobs::RetentionPolicy {
        audit_days: 365,
        event_days,
        failed_delivery_days,
    }
}

/// Events older than the retention are deleted (never an unpublished one); a cursor into what
/// was deleted gets `CURSOR_EXPIRED` from the feed and from a resuming subscription, while the
/// last removed position, and anything after, still resume.
#[tokio::test]
async fn old_events_are_removed_and_a_cursor_before_them_gets_cursor_expired() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    app.published().await;
    let first = app.graphql_as(&admin, FEED, json!({})).await;
    let nodes = first["data"]["events"]["nodes"].as_array().unwrap().clone();
    assert!(nodes.len() >= 2, "{first}");
    let early = app
        .graphql_as(
            &admin,
            "{ events(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await["data"]["events"]["pageInfo"]["endCursor"]
        .clone();
    let last_position = nodes.last().unwrap()["position"]
        .as_str()
        .unwrap()
        .to_string();
    let end = first["data"]["events"]["pageInfo"]["endCursor"].clone();

    // Ninety days on, with a ninety-day retention: nothing is old enough yet.
    let now = Utc::now();
    let kept = service::jobs::retention(db, now + Duration::days(89), &policy(90, 30))
        .await
        .unwrap();
    assert_eq!(kept.events, 0);
    let agent = actor_of(db, world.agent_a).await;
    let removed = service::jobs::retention(db, now + Duration::days(91), &policy(90, 30))
        .await
        .unwrap();
    assert_eq!(removed.events as usize, nodes.len());
    assert_eq!(
        entity::outbox_event::Entity::find()
            .count(db)
            .await
            .unwrap(),
        0
    );

    // The feed refuses a cursor into what is gone, naming the field.
    let expired = app
        .graphql_as(&admin, FEED, json!({ "after": early }))
        .await;
    assert_eq!(error_code(&expired), "CURSOR_EXPIRED", "{expired}");
    assert_eq!(
        expired["errors"][0]["extensions"]["field"], "after",
        "{expired}"
    );
    // A reader who had everything goes on: its cursor is where the log now starts.
    service::comment::create_as(db, &agent, world.ticket_a, "after retention", false)
        .await
        .unwrap();
    app.published().await;
    let resumed = app.graphql_as(&admin, FEED, json!({ "after": end })).await;
    let kinds: Vec<&str> = resumed["data"]["events"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{resumed}"))
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["COMMENT_CREATED"], "{resumed}");

    // So does a subscription: resuming from before the log's start is refused with the same
    // code; resuming from its start goes on.
    let mut socket = connected(&app.address, &admin).await;
    let query =
        "subscription($after: ID) { ticketEvents(after: $after) { kind comment { body } } }";
    send(
        &mut socket,
        json!({ "id": "old", "type": "subscribe", "payload": { "query": query, "variables": { "after": "1" } } }),
    )
    .await;
    let refused = next(&mut socket).await;
    assert_eq!(refused["id"], "old", "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "CURSOR_EXPIRED",
        "{refused}"
    );
    assert_eq!(next(&mut socket).await["type"], "complete");
    send(
        &mut socket,
        json!({ "id": "new", "type": "subscribe", "payload": { "query": query, "variables": { "after": last_position } } }),
    )
    .await;
    let event = next(&mut socket).await;
    assert_eq!(
        event["payload"]["data"]["ticketEvents"]["comment"]["body"], "after retention",
        "{event}"
    );
}

/// Unpublished events stay, whatever their age: the relay has not handed them on.
#[tokio::test]
async fn an_event_the_relay_has_not_published_is_kept() {
    let database = crate::helpers::TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    // No server runs: nothing publishes the fixtures' events.
    World::build(&db).await;
    let waiting = entity::outbox_event::Entity::find()
        .count(&db)
        .await
        .unwrap();
    assert!(waiting > 0);
    let removed = service::jobs::retention(&db, Utc::now() + Duration::days(400), &policy(90, 30))
        .await
        .unwrap();
    assert_eq!(removed.events, 0);
    assert_eq!(
        entity::outbox_event::Entity::find()
            .count(&db)
            .await
            .unwrap(),
        waiting
    );
}

/// Idempotency keys go after their 24 hours (and the same key then creates anew).
#[tokio::test]
async fn idempotency_keys_are_removed_after_a_day() {
    let app = TestApp::spawn().await;
    let db = app.db();
    World::build(db).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let created = app
        .graphql_as(
            &client,
            "mutation($input: TicketCreateInput!) { ticketCreate(input: $input) { ticket { id } } }",
            json!({ "input": { "title": "Printer on fire", "idempotencyKey": "retry-1" } }),
        )
        .await;
    assert!(
        created["data"]["ticketCreate"]["ticket"]["id"].is_string(),
        "{created}"
    );
    let keys = || async {
        entity::idempotency_key::Entity::find()
            .count(db)
            .await
            .unwrap()
    };
    assert_eq!(keys().await, 1);
    let now = Utc::now();
    let early = service::jobs::retention(db, now + Duration::hours(23), &policy(90, 30))
        .await
        .unwrap();
    assert_eq!((early.idempotency_keys, keys().await), (0, 1));
    let late = service::jobs::retention(db, now + Duration::hours(25), &policy(90, 30))
        .await
        .unwrap();
    assert_eq!((late.idempotency_keys, keys().await), (1, 0));
}

/// Deliveries that failed for good go after their configured age; pending ones stay.
#[tokio::test]
async fn failed_deliveries_are_removed_after_their_age_and_pending_ones_stay() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let admin = actor_of(db, world.admin).await;
    let (hook, _) = service::webhook::create(
        db,
        &admin,
        service::webhook::NewWebhook {
            url: "http://127.0.0.1:9/hook".into(),
            ..Default::default()
        },
        service::webhook::UrlPolicy {
            allow_private: true,
        },
        &test_keyring(),
        &service::audit::ClientInfo::default(),
    )
    .await
    .unwrap();
    let failed = service::webhook::test(db, &admin, hook.id)
        .await
        .unwrap()
        .id;
    let pending = service::webhook::test(db, &admin, hook.id)
        .await
        .unwrap()
        .id;
    entity::webhook_delivery::Entity::update_many()
        .col_expr(
            entity::webhook_delivery::Column::Status,
            sea_orm::sea_query::Expr::value(service::webhook::FAILED),
        )
        .filter(entity::webhook_delivery::Column::Id.eq(failed))
        .exec(db)
        .await
        .unwrap();
    let exists = |id| async move {
        entity::webhook_delivery::Entity::find_by_id(id)
            .one(db)
            .await
            .unwrap()
            .is_some()
    };
    let now = Utc::now();
    let early = service::jobs::retention(db, now + Duration::days(6), &policy(90, 7))
        .await
        .unwrap();
    assert_eq!(early.failed_deliveries, 0);
    assert!(exists(failed).await);
    let late = service::jobs::retention(db, now + Duration::days(8), &policy(90, 7))
        .await
        .unwrap();
    assert_eq!(late.failed_deliveries, 1);
    assert!(!exists(failed).await);
    assert!(exists(pending).await, "a pending delivery is never removed");
}
