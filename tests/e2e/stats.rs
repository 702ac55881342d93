//! Ticket statistics: figures against a hand-computed fixture, a cache that is never stale,
//! Redis going away and coming back, and coalesced live updates.

use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use entity::enums::{TicketPriority, TicketStatus};
use entity::ticket;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, World, actor_of, email_of, error_code, gid, new_ticket, redis_url,
};
use crate::subscriptions::{connected, listening, next, send};

const STATS: &str = "query($filter: TicketStatsFilter) { ticketStats(filter: $filter) {
    total created resolved reopened backlog
    byStatus { status count } byPriority { priority count }
    avgFirstResponseMinutes avgResolutionMinutes medianResolutionMinutes slaCompliance breached } }";

async fn stats(app: &TestApp, token: &str, filter: Value) -> Value {
    let response = app
        .graphql_as(token, STATS, json!({ "filter": filter }))
        .await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["ticketStats"].clone()
}

/// Sets a ticket's creation time `minutes` back, as the fixture's history says.
async fn created_ago(db: &DatabaseConnection, id: uuid::Uuid, minutes: i64) {
    ticket::Entity::update_many()
        .col_expr(
            ticket::Column::CreatedAt,
            (Utc::now() - chrono::Duration::minutes(minutes)).into(),
        )
        .filter(ticket::Column::Id.eq(id))
        .exec(db)
        .await
        .unwrap();
}

/// How often the statistics cache answered `result`; a label not counted yet is 0.
async fn cache_count(app: &TestApp, result: &str) -> f64 {
    let body = app.get("/metrics").await.text().await.unwrap();
    crate::helpers::metric_value(
        &body,
        &format!("helpdesk_stats_cache_requests_total{{result=\"{result}\"}}"),
    )
    .unwrap_or(0.0)
}

/// Organization A after the fixture:
///
/// | ticket | priority | created | first response | resolved | now |
/// | --- | --- | --- | --- | --- | --- |
/// | the world's | MEDIUM | now | - | - | NEW |
/// | one | HIGH | 90 min ago | 90 min | 90 min, within 24 h | RESOLVED |
/// | two | LOW | 30 min ago | 30 min | 30 min, then reopened | OPEN |
/// | three | CRITICAL | 300 min ago | - | 300 min, past 4 h | RESOLVED |
/// | four | MEDIUM | now | - | - | OPEN |
async fn fixture(app: &TestApp, world: &World) -> uuid::Uuid {
    let db = app.db();
    let agent = actor_of(db, world.agent_a).await;
    let client = actor_of(db, world.client_a).await;
    let make = |priority: TicketPriority, title: &'static str| async move {
        let mut new = new_ticket(world.org_a, world.client_a, title);
        new.priority = priority;
        service::ticket::create(db, Some(world.client_a), new)
            .await
            .unwrap()
            .id
    };
    let one = make(TicketPriority::High, "One").await;
    let two = make(TicketPriority::Low, "Two").await;
    let three = make(TicketPriority::Critical, "Three").await;
    let four = make(TicketPriority::Medium, "Four").await;
    created_ago(db, one, 90).await;
    created_ago(db, two, 30).await;
    created_ago(db, three, 300).await;
    for id in [one, two] {
        service::comment::create_as(db, &agent, id, "Looking into it.", false)
            .await
            .unwrap();
    }
    for id in [one, two, three] {
        service::ticket::transition(db, &agent, id, TicketStatus::Resolved, None)
            .await
            .unwrap();
    }
    service::ticket::transition(db, &client, two, TicketStatus::Open, None)
        .await
        .unwrap();
    service::ticket::transition(db, &agent, four, TicketStatus::Open, None)
        .await
        .unwrap();
    four
}

#[tokio::test]
async fn statistics_match_a_hand_computed_fixture_and_are_never_stale() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let four = fixture(&app, &world).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let org_a = json!({ "organizationId": gid("Organization", world.org_a) });

    let first = stats(&app, &admin, org_a.clone()).await;
    assert_eq!(
        first,
        json!({
            "total": 5, "created": 5, "resolved": 3, "reopened": 1, "backlog": 3,
            "byStatus": [
                { "status": "NEW", "count": 1 }, { "status": "OPEN", "count": 2 },
                { "status": "IN_PROGRESS", "count": 0 }, { "status": "PENDING_INFO", "count": 0 },
                { "status": "RESOLVED", "count": 2 }, { "status": "CLOSED", "count": 0 },
            ],
            "byPriority": [
                { "priority": "LOW", "count": 1 }, { "priority": "MEDIUM", "count": 2 },
                { "priority": "HIGH", "count": 1 }, { "priority": "CRITICAL", "count": 1 },
            ],
            "avgFirstResponseMinutes": 60.0,
            "avgResolutionMinutes": 140.0,
            "medianResolutionMinutes": 90.0,
            "slaCompliance": 2.0 / 3.0,
            "breached": 0,
        })
    );
    // Every organization: B's one ticket joins.
    let everything = stats(&app, &admin, json!({})).await;
    assert_eq!(
        (everything["total"].clone(), everything["created"].clone()),
        (json!(6), json!(6))
    );

    // The same question again is answered from the cache...
    let hits = cache_count(&app, "hit").await;
    assert_eq!(stats(&app, &admin, org_a.clone()).await, first);
    assert_eq!(cache_count(&app, "hit").await, hits + 1.0);

    // ...until a ticket of the organization changes: the next answer shows the change.
    let agent = actor_of(app.db(), world.agent_a).await;
    service::ticket::transition(app.db(), &agent, four, TicketStatus::Resolved, None)
        .await
        .unwrap();
    let after = stats(&app, &admin, org_a.clone()).await;
    assert_eq!(after["resolved"], 4);
    assert_eq!(after["backlog"], 2);
    assert_eq!(
        cache_count(&app, "hit").await,
        hits + 1.0,
        "not served from the cache"
    );
    // A change elsewhere leaves A's cached answer valid.
    let client_b = actor_of(app.db(), world.client_b).await;
    service::ticket::transition(
        app.db(),
        &client_b,
        world.ticket_b,
        TicketStatus::Closed,
        None,
    )
    .await
    .unwrap();
    assert_eq!(stats(&app, &admin, org_a).await, after);
    assert_eq!(cache_count(&app, "hit").await, hits + 2.0);
}

#[tokio::test]
async fn statistics_are_for_staff_within_their_reach() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let org_a = json!({ "organizationId": gid("Organization", world.org_a) });
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let refused = app
        .graphql_as(&client, STATS, json!({ "filter": org_a }))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let agent_b = app.login(&email_of("agent_b"), PASSWORD).await;
    let other = app
        .graphql_as(&agent_b, STATS, json!({ "filter": org_a }))
        .await;
    assert_eq!(error_code(&other), "FORBIDDEN");
    // An agent's own organizations are theirs to see.
    let agent_a = app.login(&email_of("agent_a"), PASSWORD).await;
    assert_eq!(stats(&app, &agent_a, json!({})).await["total"], 1);
    let backwards = app
        .graphql_as(
            &agent_a,
            STATS,
            json!({ "filter": { "from": "2026-05-02", "to": "2026-05-01" } }),
        )
        .await;
    assert_eq!(error_code(&backwards), "BAD_USER_INPUT");
    assert_eq!(backwards["errors"][0]["extensions"]["field"], "from");

    let series = app
        .graphql_as(
            &agent_a,
            "query($f: TicketStatsFilter) { ticketStatsSeries(filter: $f, interval: WEEK) { timeZone interval points { periodStart created resolved } } }",
            json!({ "f": { "organizationId": gid("Organization", world.org_a), "from": "2026-01-01", "to": "2026-01-31" } }),
        )
        .await;
    let series = &series["data"]["ticketStatsSeries"];
    assert_eq!(series["timeZone"], "UTC", "{series}");
    let starts: Vec<&str> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["periodStart"].as_str().unwrap())
        .collect();
    // Weeks start on Monday: 2025-12-29 holds January 1st.
    assert_eq!(
        starts,
        [
            "2025-12-29",
            "2026-01-05",
            "2026-01-12",
            "2026-01-19",
            "2026-01-26"
        ]
    );
}

/// A Redis server of this test's own, which it can stop and start again on the same port.
struct OwnRedis {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl OwnRedis {
    fn start_on(port: u16) -> Option<tokio::process::Child> {
        tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()
    }

    async fn ready(&self) {
        let url = self.url();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if service::redis::connect(&url).await.is_ok() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.unwrap();
    }
}

#[tokio::test]
async fn statistics_survive_a_redis_outage_and_caching_resumes_after_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(child) = OwnRedis::start_on(port) else {
        assert!(
            redis_url().is_none(),
            "HELPDESK_TEST_REDIS_URL is set but redis-server cannot be started"
        );
        eprintln!("skipped: no redis-server on this machine (CI installs it)");
        return;
    };
    let mut redis = OwnRedis {
        port,
        child: Some(child),
    };
    redis.ready().await;
    let url = redis.url();
    let app = TestApp::spawn_with(|settings| settings.redis.redis_url = Some(url)).await;
    World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let first = stats(&app, &admin, json!({})).await;
    assert_eq!(first["total"], 2);
    let hits = cache_count(&app, "hit").await;
    stats(&app, &admin, json!({})).await;
    assert_eq!(
        cache_count(&app, "hit").await,
        hits + 1.0,
        "cached in Redis"
    );

    redis.stop().await;
    let unavailable = cache_count(&app, "unavailable").await;
    assert_eq!(
        stats(&app, &admin, json!({})).await,
        first,
        "answered from the database"
    );
    assert!(cache_count(&app, "unavailable").await > unavailable);

    redis.child = OwnRedis::start_on(port);
    redis.ready().await;
    // Caching resumes once the server tries Redis again (it rests a moment after a failure).
    let hits = cache_count(&app, "hit").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while cache_count(&app, "hit").await <= hits {
        assert_eq!(stats(&app, &admin, json!({})).await, first);
        assert!(
            tokio::time::Instant::now() < deadline,
            "no cache hit after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_burst_of_changes_arrives_as_one_statistics_update() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    // The fixtures' own events go out first, so they are not part of the burst.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while entity::outbox_event::Entity::find()
        .filter(entity::outbox_event::Column::PublishedAt.is_null())
        .count(app.db())
        .await
        .unwrap()
        > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "events unpublished after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut socket = connected(&app.address, &admin).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($f: TicketStatsFilter) { ticketStatsUpdated(filter: $f) { total created } }",
            "variables": { "f": { "organizationId": gid("Organization", world.org_a) } },
        } }),
    )
    .await;
    listening(&app.address, 1).await;

    let create = |n: usize| {
        let app = &app;
        let client = &client;
        async move {
            let response = app
                .graphql_as(
                    client,
                    "mutation($input: TicketCreateInput!) { ticketCreate(input: $input) { ticket { id } } }",
                    json!({ "input": { "title": format!("Burst {n}"), "description": "", "priority": "LOW", "category": "OTHER" } }),
                )
                .await;
            assert!(
                response["data"]["ticketCreate"]["ticket"].is_object(),
                "{response}"
            );
        }
    };
    let started = std::time::Instant::now();
    futures_util::future::join_all((0..50).map(create)).await;
    let took = started.elapsed();
    let update = next(&mut socket).await;
    let figures = &update["payload"]["data"]["ticketStatsUpdated"];
    // The world's ticket plus the burst, in one update.
    assert_eq!(figures["created"], 51, "{update} (the burst took {took:?})");
    assert_eq!(figures["total"], 51);
    // The next change brings the next update: nothing of the burst was left over.
    create(50).await;
    let update = next(&mut socket).await;
    assert_eq!(
        update["payload"]["data"]["ticketStatsUpdated"]["created"],
        52
    );
}
