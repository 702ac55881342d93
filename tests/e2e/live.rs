//! The live path without gaps: commit-ordered positions, a fan-out that survives Redis going
//! away, and readiness that says so.

use std::time::Duration;

use sea_orm::TransactionTrait;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, RunningServer, TestApp, World, actor_of, email_of, gid, helpdesk, test_keyring,
};
use crate::subscriptions::{connected, listening, next, send};
use crate::webhooks::{Receiver, ok};

const FEED: &str = "query($after: String) {
    events(after: $after, first: 100, filter: { kinds: [COMMENT_CREATED] }) {
        nodes { id position comment { body } }
        pageInfo { endCursor }
    }
}";

const COMMENTS: &str = "subscription($after: ID) { ticketEvents(after: $after, filter: { kinds: [COMMENT_CREATED] }) { id position comment { body } } }";

fn bodies(feed: &Value) -> Vec<String> {
    feed["data"]["events"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("a feed page: {feed}"))
        .iter()
        .map(|e| e["comment"]["body"].as_str().unwrap().to_string())
        .collect()
}

fn body_of(message: &Value) -> String {
    message["payload"]["data"]["ticketEvents"]["comment"]["body"]
        .as_str()
        .unwrap_or_else(|| panic!("an event: {message}"))
        .to_string()
}

/// Two writers commit in the other order than they wrote their events: the event written first
/// (the smaller id) becomes visible last. A reader that resumes after what it has seen still
/// gets it, once: through the change feed, a live subscription, and a resuming subscription.
#[tokio::test]
async fn events_committed_out_of_insert_order_are_neither_skipped_nor_repeated() {
    let app = TestApp::spawn().await;
    if !app.database.is_postgres() {
        eprintln!(
            "embedded default: SQLite lets one writer at a time, so commits cannot cross; this needs HELPDESK_TEST_DATABASE_URL"
        );
        return;
    }
    let db = app.db();
    let world = World::build(db).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    app.published().await;
    let start = app.graphql_as(&admin, FEED, json!({})).await;
    let start_cursor = start["data"]["events"]["pageInfo"]["endCursor"].clone();
    let start_position = app
        .graphql_as(
            &admin,
            "{ events(first: 100) { nodes { position } } }",
            json!({}),
        )
        .await["data"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .last()
        .map_or("0".to_string(), |e| {
            e["position"].as_str().unwrap().to_string()
        });

    let mut live = connected(&app.address, &admin).await;
    send(
        &mut live,
        json!({ "id": "live", "type": "subscribe", "payload": { "query": COMMENTS } }),
    )
    .await;
    listening(&app.address, 1).await;

    // The first writer takes its event id, and holds its transaction open.
    let agent = actor_of(db, world.agent_a).await;
    let first = db.begin().await.unwrap();
    let (_, _) =
        service::comment::create_as(&first, &agent, world.ticket_a, "written first", false)
            .await
            .unwrap();
    // The second writer (another ticket, so no lock is shared) takes a later id and commits.
    let admin_actor = actor_of(db, world.admin).await;
    service::comment::create_as(db, &admin_actor, world.ticket_b, "committed first", false)
        .await
        .unwrap();
    app.published().await;
    assert_eq!(body_of(&next(&mut live).await), "committed first");
    let seen = app
        .graphql_as(&admin, FEED, json!({ "after": start_cursor }))
        .await;
    assert_eq!(bodies(&seen), ["committed first"], "{seen}");
    let cursor = seen["data"]["events"]["pageInfo"]["endCursor"].clone();

    // Now the first writer commits: its event is older by id, newer in the log.
    first.commit().await.unwrap();
    app.published().await;
    assert_eq!(body_of(&next(&mut live).await), "written first");
    let rest = app
        .graphql_as(&admin, FEED, json!({ "after": cursor }))
        .await;
    assert_eq!(bodies(&rest), ["written first"], "{rest}");
    let ids: Vec<i64> = seen["data"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["data"]["events"]["nodes"].as_array().unwrap())
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        ids[0] > ids[1],
        "the ids were taken in the other order: {ids:?}"
    );

    // A subscriber resuming from before both gets both, in commit order, once, then live.
    let mut resumed = connected(&app.address, &admin).await;
    send(
        &mut resumed,
        json!({ "id": "r", "type": "subscribe", "payload": { "query": COMMENTS, "variables": { "after": start_position } } }),
    )
    .await;
    assert_eq!(body_of(&next(&mut resumed).await), "committed first");
    assert_eq!(body_of(&next(&mut resumed).await), "written first");
    service::comment::create_as(db, &admin_actor, world.ticket_b, "then live", false)
        .await
        .unwrap();
    app.published().await;
    assert_eq!(body_of(&next(&mut resumed).await), "then live");
    assert_eq!(body_of(&next(&mut live).await), "then live");
}

/// A `redis-server` of the test's own, on a free port, that it stops and starts again.
struct OwnRedis {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl OwnRedis {
    /// `None` (said in the output) when `redis-server` is not installed; in CI that fails.
    async fn start() -> Option<Self> {
        let installed = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            assert!(
                std::env::var("CI").is_err(),
                "redis-server is not installed, and CI must run this test"
            );
            eprintln!("redis-server is not installed: the Redis outage test needs it");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.run().await;
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server and waits until it answers.
    async fn run(&mut self) {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if pong(self.port).await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not answer within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }
}

/// Whether a Redis server answers `PING` on `port` (in its wire protocol, by hand).
async fn pong(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    if stream.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).await.is_ok() && &answer == b"+PONG\r\n"
}

/// `/readyz`'s status code and body.
async fn ready(app: &TestApp) -> (u16, Value) {
    let response = app.get("/readyz").await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Waits (at most 20 s) until `/readyz` says `word`; returns the last answer.
async fn ready_becomes(app: &TestApp, word: &str) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = ready(app).await;
        if body["status"] == word {
            return (status, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz never said {word}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Redis goes away under a live subscriber (of another replica, on PostgreSQL) and under
/// webhook traffic, then comes back: every event reaches the subscriber once and in order,
/// every delivery is made, and `/readyz` stays 200 while it says Redis is degraded.
#[tokio::test]
async fn losing_redis_loses_no_event_and_no_delivery_and_readiness_says_degraded() {
    let Some(mut redis) = OwnRedis::start().await else {
        return;
    };
    let url = redis.url();
    let app = TestApp::spawn_with(|settings| settings.redis.redis_url = Some(url.clone())).await;
    let world = World::build(app.db()).await;
    let second = if app.database.is_postgres() {
        let mut command = helpdesk(&app.database);
        command
            .args(["serve", "--no-demo"])
            .env("HELPDESK_ADDR", "127.0.0.1:0")
            .env("REDIS_URL", &url)
            .env("HELPDESK_REDIS_PREFIX", app.database.redis_prefix())
            .env("HELPDESK_WEBHOOK_ALLOW_PRIVATE", "true");
        Some(RunningServer::start(command).await)
    } else {
        eprintln!(
            "embedded default: one server process (SQLite is one process's file); the second replica needs HELPDESK_TEST_DATABASE_URL"
        );
        None
    };
    let subscriber_address = second
        .as_ref()
        .map_or(app.address.clone(), |s| s.address.clone());
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let mut receiver = Receiver::start(ok()).await;
    service::webhook::create(
        app.db(),
        &actor_of(app.db(), world.admin).await,
        service::webhook::NewWebhook {
            url: receiver.url.clone(),
            events: vec!["comment.created".into()],
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
    let mut socket = connected(&subscriber_address, &admin).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": COMMENTS } }),
    )
    .await;
    listening(&subscriber_address, 1).await;
    let (status, body) = ready(&app).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("ok")),
        "{body}"
    );

    let say = |body: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let response = app
                .graphql_as(
                    admin,
                    "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }",
                    json!({ "input": { "ticketId": gid("Ticket", world.ticket_a), "body": body } }),
                )
                .await;
            assert!(
                response["data"]["commentCreate"]["comment"].is_object(),
                "{response}"
            );
        }
    };
    let mut heard = Vec::new();
    let mut delivered = Vec::new();
    say("before").await;
    heard.push(body_of(&next(&mut socket).await));
    delivered.push(receiver.next().await.body);

    redis.stop().await;
    for body in ["during 1", "during 2", "during 3"] {
        say(body).await;
    }
    let (status, body) = ready_becomes(&app, "degraded").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["redis"]["degraded"], true, "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(app.metric("helpdesk_redis_degraded").await, 1.0);
    for _ in 0..3 {
        heard.push(body_of(&next(&mut socket).await));

        delivered.push(receiver.next().await.body);
    }

    redis.run().await;
    say("after").await;
    heard.push(body_of(&next(&mut socket).await));
    delivered.push(receiver.next().await.body);
    let (status, _) = ready_becomes(&app, "ok").await;
    assert_eq!(status, 200);

    let expected = ["before", "during 1", "during 2", "during 3", "after"];
    assert_eq!(heard, expected, "every event, once, in order");
    let mut bodies: Vec<String> = delivered
        .iter()
        .map(|b| {
            serde_json::from_str::<Value>(b).unwrap()["data"]["comment"]["body"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    bodies.sort();
    let mut wanted: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    wanted.sort();
    assert_eq!(bodies, wanted, "every delivery made");
    if let Some(second) = second {
        assert!(second.terminate().await.success());
    }
}

/// The live bench (`bench/live.rs`) still runs against this server at a small size: its
/// documents follow the schema (a refused subscription ends it with an error), and it reports
/// latency (here with its sockets spread over two sign-ins, so over two shared executions),
/// statements and in-order webhook deliveries.
#[tokio::test]
async fn the_live_bench_runs_at_a_small_size() {
    let debug = std::env::current_exe()
        .expect("the test binary")
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the target directory")
        .to_path_buf();
    let bench = debug.join("examples").join("live");
    assert!(
        bench.exists(),
        "{} is built with the tests (cargo test builds the examples)",
        bench.display()
    );
    let run = tokio::process::Command::new(&bench)
        .args(["3", "2", "6", "2"])
        .env("HELPDESK_BIN", env!("CARGO_BIN_EXE_helpdesk"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("the bench ends")
        .expect("the bench starts");
    let printed = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{printed}\n{errors}");
    assert!(
        printed.contains("mutation -> subscriber: 2 events x 3 subscribers (2 sign-in(s))"),
        "{printed}"
    );
    assert!(
        printed.contains("webhook deliveries: 6 over")
            && printed.contains("0 out of per-ticket order or repeated"),
        "{printed}"
    );
}
