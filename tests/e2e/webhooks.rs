//! Webhooks: registration, Standard Webhooks signatures, the retry schedule (driven by the
//! test's own clock), SSRF refusal, and delivery across a crash. The receiver is a real HTTP
//! server on loopback.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use service::webhook::UrlPolicy;
use service::webhook::deliver::{Deliverer, SCHEDULE};
use tokio::sync::mpsc;

use crate::helpers::{
    PASSWORD, RunningServer, TestApp, TestDatabase, World, actor_of, comment_at, email_of, gid,
    helpdesk, login_at, test_keyring,
};
use crate::subscriptions::{connected, next, send};

/// What the receiver does with a request.
#[derive(Clone)]
pub(crate) enum Answer {
    Status(u16, Vec<(&'static str, String)>),
    /// Never answers (the request stays open).
    Hang,
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) traceparent: String,
    pub(crate) body: String,
}

/// An HTTP endpoint on loopback that records every request and answers from a script (then
/// with its default).
pub(crate) struct Receiver {
    pub(crate) url: String,
    port: u16,
    requests: mpsc::UnboundedReceiver<Received>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    pub(crate) async fn start(default: Answer) -> Self {
        let (tx, requests) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let answers = script.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap, body: String| {
                let tx = tx.clone();
                let answers = answers.clone();
                let default = default.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let _ = tx.send(Received {
                        path: uri.path().to_string(),
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        traceparent: header("traceparent"),
                        body,
                    });
                    let answer = answers.lock().unwrap().pop_front().unwrap_or(default);
                    match answer {
                        Answer::Status(status, headers) => {
                            let mut response: Response =
                                StatusCode::from_u16(status).unwrap().into_response();
                            for (name, value) in headers {
                                response.headers_mut().insert(name, value.parse().unwrap());
                            }
                            response
                        }
                        Answer::Hang => std::future::pending().await,
                    }
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            requests,
            script,
        }
    }

    fn then(&self, answer: Answer) {
        self.script.lock().unwrap().push_back(answer);
    }

    /// The next request, within 20 seconds.
    pub(crate) async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(20), self.requests.recv())
            .await
            .expect("a delivery within 20 s")
            .expect("receiver running")
    }

    /// Nothing received so far.
    fn nothing_yet(&mut self) -> bool {
        self.requests.try_recv().is_err()
    }
}

pub(crate) fn ok() -> Answer {
    Answer::Status(200, vec![])
}

/// The Standard Webhooks verification, written from the specification: any `v1,` signature
/// in the header must equal base64(HMAC-SHA256(key, "id.timestamp.body")), where the key is
/// the base64 part of the `whsec_` secret.
fn verify(secret: &str, received: &Received) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    received
        .signature
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

const CREATE: &str = "mutation($input: WebhookCreateInput!) { webhookCreate(input: $input) { webhook { id url events enabled } secret userErrors { field code message } } }";

async fn create_webhook(app: &TestApp, token: &str, input: Value) -> Value {
    app.graphql_as(token, CREATE, json!({ "input": input }))
        .await
}

async fn comment(app: &TestApp, token: &str, ticket: uuid::Uuid, body: &str) {
    app.comment_as(token, &gid("Ticket", ticket), body, false)
        .await;
}

#[tokio::test]
async fn deliveries_are_signed_the_standard_webhooks_way_even_during_a_secret_rotation() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let mut receiver = Receiver::start(ok()).await;
    let created = create_webhook(
        &app,
        &admin,
        json!({ "url": receiver.url, "events": ["COMMENT_CREATED"], "description": "CRM" }),
    )
    .await;
    let payload = &created["data"]["webhookCreate"];
    let secret = payload["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    let webhook_id = payload["webhook"]["id"].as_str().unwrap().to_string();

    comment(&app, &admin, world.ticket_a, "Signed").await;
    let delivery = receiver.next().await;
    assert_eq!(delivery.path, "/hook");
    assert!(verify(&secret, &delivery), "{delivery:?}");
    let body: Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(body["type"], "comment.created");
    assert_eq!(body["data"]["version"], 1);
    assert_eq!(body["data"]["comment"]["body"], "Signed");
    assert!(body["timestamp"].as_str().is_some(), "{body}");
    assert_eq!(
        delivery.id,
        format!("evt_{}", body["data"]["eventId"].as_str().unwrap())
    );
    // A tampered body, or another secret, does not verify.
    let tampered = Received {
        body: delivery.body.replace("Signed", "Forged"),
        ..delivery.clone()
    };
    assert!(!verify(&secret, &tampered));
    assert!(!verify(&service::webhook::new_secret(), &delivery));

    // During a rotation both secrets verify the same delivery.
    let rotated = app
        .graphql_as(
            &admin,
            "mutation($id: ID!) { webhookRotateSecret(input: { id: $id }) { secret webhook { previousSecretExpiresAt } } }",
            json!({ "id": webhook_id }),
        )
        .await;
    let new_secret = rotated["data"]["webhookRotateSecret"]["secret"]
        .as_str()
        .expect("new secret")
        .to_string();
    assert_ne!(new_secret, secret);
    assert!(
        rotated["data"]["webhookRotateSecret"]["webhook"]["previousSecretExpiresAt"].is_string(),
        "{rotated}"
    );
    comment(&app, &admin, world.ticket_a, "Rotated").await;
    let delivery = receiver.next().await;
    assert_eq!(delivery.signature.split(' ').count(), 2, "{delivery:?}");
    assert!(verify(&new_secret, &delivery));
    assert!(verify(&secret, &delivery));

    // The delivery log shows both, newest first, once the worker recorded the answers.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let nodes = loop {
        let log = app
            .graphql_as(
                &admin,
                "query($id: ID!) { webhook(id: $id) { deliveries(first: 10) { nodes { eventId attempt status responseStatus durationMs nextAttemptAt error createdAt } } } }",
                json!({ "id": webhook_id }),
            )
            .await;
        let nodes = log["data"]["webhook"]["deliveries"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{log}"))
            .clone();
        if nodes.iter().all(|n| n["status"] == "SUCCEEDED") {
            break nodes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not recorded: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    let ids: Vec<i64> = nodes
        .iter()
        .map(|n| n["eventId"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids[0] > ids[1], "newest first: {ids:?}");
    for node in &nodes {
        assert_eq!(node["attempt"], 1);
        assert_eq!(node["responseStatus"], 200);
        assert!(node["nextAttemptAt"].is_null());
        assert!(node["error"].is_null());
    }
}

#[tokio::test]
async fn managing_webhooks_is_for_administrators_and_bad_input_is_refused_by_field() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let receiver = Receiver::start(ok()).await;
    let agent = app.login(&email_of("superagent"), PASSWORD).await;
    let refused = create_webhook(&app, &agent, json!({ "url": receiver.url })).await;
    assert_eq!(
        crate::helpers::error_code(&refused),
        "FORBIDDEN",
        "{refused}"
    );
    let listed = app
        .graphql_as(&agent, "{ webhooks { nodes { id } } }", json!({}))
        .await;
    assert_eq!(crate::helpers::error_code(&listed), "FORBIDDEN", "{listed}");

    let admin = app.login(&email_of("admin"), PASSWORD).await;
    for (input, field) in [
        (json!({ "url": "ftp://example.com/hook" }), "url"),
        (json!({ "url": "not a url" }), "url"),
        // A kind of delivery, not of event: no endpoint subscribes to test deliveries.
        (
            json!({ "url": receiver.url, "events": ["WEBHOOK_PING"] }),
            "events",
        ),
    ] {
        let response = create_webhook(&app, &admin, input.clone()).await;
        let error = &response["data"]["webhookCreate"]["userErrors"][0];
        assert_eq!(error["code"], "BAD_USER_INPUT", "{input}: {response}");
        assert_eq!(error["field"], field, "{input}: {response}");
    }
    // A kind that does not exist is not a value of the enum.
    let response = create_webhook(
        &app,
        &admin,
        json!({ "url": receiver.url, "events": ["TICKET_EXPLODED"] }),
    )
    .await;
    assert_eq!(
        crate::helpers::error_code(&response),
        "BAD_USER_INPUT",
        "{response}"
    );
    let listed = app
        .graphql_as(&admin, "{ webhooks { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        listed["data"]["webhooks"]["nodes"],
        json!([]),
        "nothing was created"
    );

    let created = create_webhook(&app, &admin, json!({ "url": receiver.url })).await;
    let id = created["data"]["webhookCreate"]["webhook"]["id"].clone();
    let updated = app
        .graphql_as(
            &admin,
            "mutation($input: WebhookUpdateInput!) { webhookUpdate(input: $input) { webhook { enabled disabledReason events } } }",
            json!({ "input": { "id": id, "enabled": false, "events": ["TICKET_CREATED"] } }),
        )
        .await;
    assert_eq!(
        updated["data"]["webhookUpdate"]["webhook"],
        json!({ "enabled": false, "disabledReason": "disabled by an administrator", "events": ["TICKET_CREATED"] })
    );
    let deleted = app
        .graphql_as(
            &admin,
            "mutation($id: ID!) { webhookDelete(input: { id: $id }) { deletedId } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted["data"]["webhookDelete"]["deletedId"], id);
    let listed = app
        .graphql_as(&admin, "{ webhooks { nodes { id } } }", json!({}))
        .await;
    assert_eq!(listed["data"]["webhooks"]["nodes"], json!([]));
}

/// A migrated database with the fixtures and no server: the test drives deliveries itself.
async fn quiet_database() -> (TestDatabase, DatabaseConnection, World) {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    let world = World::build(&db).await;
    (database, db, world)
}

async fn webhook_to(db: &DatabaseConnection, world: &World, url: &str) -> entity::webhook::Model {
    webhook_for(db, world, url, &[]).await
}

pub(crate) async fn webhook_for(
    db: &DatabaseConnection,
    world: &World,
    url: &str,
    events: &[&str],
) -> entity::webhook::Model {
    let admin = actor_of(db, world.admin).await;
    service::webhook::create(
        db,
        &admin,
        service::webhook::NewWebhook {
            url: url.to_string(),
            events: events.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        },
        UrlPolicy {
            allow_private: true,
        },
        &test_keyring(),
        &service::audit::ClientInfo::default(),
    )
    .await
    .unwrap()
    .0
}

async fn ping(db: &DatabaseConnection, world: &World, hook: &entity::webhook::Model) -> uuid::Uuid {
    let admin = actor_of(db, world.admin).await;
    service::webhook::test(db, &admin, hook.id)
        .await
        .unwrap()
        .id
}

async fn delivery(db: &DatabaseConnection, id: uuid::Uuid) -> entity::webhook_delivery::Model {
    use sea_orm::EntityTrait;
    entity::webhook_delivery::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

async fn webhook(db: &DatabaseConnection, id: uuid::Uuid) -> entity::webhook::Model {
    use sea_orm::EntityTrait;
    entity::webhook::Entity::find_by_id(id)
        .one(db)
        .await
        .unwrap()
        .unwrap()
}

fn deliverer() -> Deliverer {
    Deliverer::new(
        UrlPolicy {
            allow_private: true,
        },
        Duration::from_secs(5),
        Arc::new(test_keyring()),
    )
}

fn within_jitter(at: DateTime<Utc>, from: DateTime<Utc>, wait: Duration) -> bool {
    let wait = chrono::Duration::from_std(wait).unwrap();
    at >= from + wait * 9 / 10 && at <= from + wait * 11 / 10
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_on_the_schedule_then_the_delivery_fails() {
    let (_database, db, world) = quiet_database().await;
    let mut receiver = Receiver::start(Answer::Status(500, vec![])).await;
    let hook = webhook_to(&db, &world, &receiver.url).await;
    let id = ping(&db, &world, &hook).await;
    let deliverer = deliverer();

    let mut now = Utc::now();
    assert_eq!(deliverer.run_due(&db, now, 10).await.unwrap(), 1);
    let first = receiver.next().await;
    for (attempt, wait) in SCHEDULE.iter().enumerate() {
        let row = delivery(&db, id).await;
        assert_eq!(row.attempt, attempt as i32 + 1);
        assert_eq!(row.status, "PENDING");
        assert_eq!(row.response_status, Some(500));
        let next = row.next_attempt_at.expect("a next attempt");
        assert!(
            within_jitter(next, now, *wait),
            "attempt {}: next at {next}, {wait:?} after {now}",
            attempt + 1
        );
        // Not due a moment before.
        assert_eq!(
            deliverer
                .run_due(&db, next - chrono::Duration::milliseconds(1), 10)
                .await
                .unwrap(),
            0
        );
        now = next;
        assert_eq!(deliverer.run_due(&db, now, 10).await.unwrap(), 1);
        // Every attempt carries the same webhook-id.
        assert_eq!(receiver.next().await.id, first.id);
    }
    let row = delivery(&db, id).await;
    assert_eq!(row.status, "FAILED");
    assert_eq!(row.attempt, SCHEDULE.len() as i32 + 1);
    assert_eq!(row.next_attempt_at, None);
    assert_eq!(
        deliverer
            .run_due(&db, now + chrono::Duration::days(1), 10)
            .await
            .unwrap(),
        0
    );

    // The endpoint has failed since the first attempt; still enabled after about a day.
    let endpoint = webhook(&db, hook.id).await;
    assert!(endpoint.enabled);
    let since = endpoint.failing_since.expect("failing");
    // Failing continuously for 5 days disables it, visibly.
    ping(&db, &world, &hook).await;
    let later = since + chrono::Duration::days(5) + chrono::Duration::seconds(1);
    assert_eq!(deliverer.run_due(&db, later, 10).await.unwrap(), 1);
    let endpoint = webhook(&db, hook.id).await;
    assert!(!endpoint.enabled);
    assert_eq!(
        endpoint.disabled_reason.as_deref(),
        Some("every delivery failed for 5 days")
    );
}

#[tokio::test]
async fn gone_disables_at_once_redirects_are_failures_and_retry_after_is_honoured() {
    let (_database, db, world) = quiet_database().await;
    let mut receiver = Receiver::start(ok()).await;
    let hook = webhook_to(&db, &world, &receiver.url).await;
    let deliverer = deliverer();

    // 302: a failure, and the Location is not followed.
    receiver.then(Answer::Status(
        302,
        vec![(
            "location",
            format!("http://127.0.0.1:{}/elsewhere", receiver.port),
        )],
    ));
    let id = ping(&db, &world, &hook).await;
    assert_eq!(deliverer.run_due(&db, Utc::now(), 10).await.unwrap(), 1);
    assert_eq!(receiver.next().await.path, "/hook");
    let row = delivery(&db, id).await;
    assert_eq!(row.status, "PENDING");
    assert_eq!(row.response_status, Some(302));
    assert!(row.error.unwrap().contains("302"));
    assert!(receiver.nothing_yet(), "the redirect was followed");

    // 429 with Retry-After: the next attempt is when the endpoint asked.
    receiver.then(Answer::Status(429, vec![("retry-after", "120".into())]));
    let later = row.next_attempt_at.unwrap();
    assert_eq!(deliverer.run_due(&db, later, 10).await.unwrap(), 1);
    receiver.next().await;
    let row = delivery(&db, id).await;
    assert_eq!(
        row.next_attempt_at,
        Some(later + chrono::Duration::seconds(120))
    );

    // 410: the delivery fails and the endpoint is disabled at once.
    receiver.then(Answer::Status(410, vec![]));
    let then = later + chrono::Duration::seconds(120);
    assert_eq!(deliverer.run_due(&db, then, 10).await.unwrap(), 1);
    receiver.next().await;
    let row = delivery(&db, id).await;
    assert_eq!(row.status, "FAILED");
    let endpoint = webhook(&db, hook.id).await;
    assert!(!endpoint.enabled);
    assert_eq!(
        endpoint.disabled_reason.as_deref(),
        Some("the endpoint answered 410 Gone")
    );
    // A disabled endpoint's deliveries wait.
    ping(&db, &world, &hook).await;
    assert_eq!(deliverer.run_due(&db, then, 10).await.unwrap(), 0);
    assert!(receiver.nothing_yet());
}

#[tokio::test]
async fn webhooks_to_internal_addresses_are_refused_at_registration_and_at_delivery() {
    let app = TestApp::spawn_with(|s| s.webhooks.webhook_allow_private = false).await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let mut receiver = Receiver::start(ok()).await;
    for url in [
        "http://127.0.0.1/hook".to_string(),
        "http://[::1]/hook".into(),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://0x7f000001/hook".into(),
        "http://2130706433/hook".into(),
        "http://[::ffff:10.0.0.1]/hook".into(),
        "http://10.0.0.1/hook".into(),
        // A host name that resolves to a loopback address.
        format!("http://localhost:{}/hook", receiver.port),
    ] {
        let response = create_webhook(&app, &admin, json!({ "url": url })).await;
        let error = &response["data"]["webhookCreate"]["userErrors"][0];
        assert_eq!(error["code"], "BAD_USER_INPUT", "{url}: {response}");
        assert_eq!(error["field"], "url", "{url}: {response}");
    }

    // An endpoint registered where private addresses were allowed is still refused by a
    // server that does not allow them, for an IP literal and for a name.
    let db = app.db();
    let strict = Deliverer::new(
        UrlPolicy::default(),
        Duration::from_secs(5),
        Arc::new(test_keyring()),
    );
    for url in [
        receiver.url.clone(),
        format!("http://localhost:{}/hook", receiver.port),
    ] {
        let hook = webhook_to(db, &world, &url).await;
        let id = ping(db, &world, &hook).await;
        let mut now = Utc::now();
        // Other pending deliveries (the fixtures' events) may be due too.
        for _ in 0..100 {
            if delivery(db, id).await.attempt > 0 {
                break;
            }
            strict.run_due(db, now, 100).await.unwrap();
            now += chrono::Duration::milliseconds(1);
        }
        let row = delivery(db, id).await;
        assert_eq!(row.status, "PENDING");
        assert_eq!(row.response_status, None);
        let error = row.error.unwrap_or_default();
        assert!(
            error.contains("loopback") || error.contains("refused"),
            "{url}: {error}"
        );
    }
    assert!(receiver.nothing_yet(), "a request reached the receiver");
}

#[tokio::test]
async fn a_delivery_cut_short_by_a_crash_is_sent_after_the_restart_with_the_same_id() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    let world = World::build(&db).await;
    let mut receiver = Receiver::start(ok()).await;
    // The first attempt never gets an answer: the server dies while it waits.
    receiver.then(Answer::Hang);
    webhook_for(&db, &world, &receiver.url, &["comment.created"]).await;
    let start = || {
        let mut command = helpdesk(&database);
        command
            .args(["serve", "--no-demo"])
            .env("HELPDESK_ADDR", "127.0.0.1:0")
            .env("HELPDESK_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("HELPDESK_WEBHOOK_TIMEOUT", "1");
        RunningServer::start(command)
    };
    let mut first = start().await;
    let token = login_at(&first.address, "agent_a").await;
    let last_event = last_event_id(&db).await;

    comment_at(&first.address, &token, world.ticket_a, "Before the crash").await;
    let comment_event = last_event_id(&db).await;
    assert!(comment_event > last_event);
    // The delivery is on its way and gets no answer: the server is killed now.
    let cut_short = receiver.next().await;
    assert_eq!(cut_short.id, format!("evt_{comment_event}"));
    // Published, so it has its place in the log.
    let comment_position =
        <entity::outbox_event::Entity as sea_orm::EntityTrait>::find_by_id(comment_event)
            .one(&db)
            .await
            .unwrap()
            .unwrap()
            .position
            .expect("published");
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();

    let second = start().await;
    // Once the dead server's hold on it lapses, the new one sends it again.
    let resent = receiver.next().await;
    assert_eq!(resent.id, cut_short.id);
    assert_eq!(resent.body, cut_short.body);

    // A subscriber resuming after the last event it saw (the one before the comment) gets
    // the comment too.
    let token = login_at(&second.address, "agent_a").await;
    let mut socket = connected(&second.address, &token).await;
    let query =
        "subscription($after: ID) { ticketEvents(after: $after) { id kind comment { body } } }";
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": { "after": (comment_position - 1).to_string() } } }),
    )
    .await;
    let message = next(&mut socket).await;
    let event = &message["payload"]["data"]["ticketEvents"];
    assert_eq!(event["id"], comment_event.to_string(), "{message}");
    assert_eq!(event["comment"]["body"], "Before the crash");
    assert!(second.terminate().await.success());
}

/// The id of the newest event in the log, or 0.
async fn last_event_id(db: &DatabaseConnection) -> i64 {
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    entity::outbox_event::Entity::find()
        .order_by_desc(entity::outbox_event::Column::Id)
        .limit(1)
        .one(db)
        .await
        .unwrap()
        .map_or(0, |e| e.id)
}

/// A data key made from one repeated byte (base64 of 32 bytes).
fn data_key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn key_id(key: &str) -> String {
    service::crypto::DataKey::from_base64(key)
        .unwrap()
        .id()
        .to_string()
}

/// A stored value gives nothing of `secret` away: neither the text, nor its key, nor base64 of
/// either.
fn assert_sealed(stored: &str, secret: &str) {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let key = secret.strip_prefix("whsec_").unwrap();
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .unwrap();
    assert!(stored.starts_with("v1:"), "{stored}");
    for leak in [
        secret.to_string(),
        key.to_string(),
        b64(secret.as_bytes()),
        b64(&key_bytes),
        // base64 of the key without padding, and any long stretch of it
        key[..20].to_string(),
    ] {
        assert!(!stored.contains(&leak), "{stored} contains {leak}");
    }
}

#[tokio::test]
async fn webhook_secrets_are_stored_sealed_and_bound_to_their_row() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let created = create_webhook(&app, &admin, json!({ "url": "http://127.0.0.1:9/hook" })).await;
    let secret = created["data"]["webhookCreate"]["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    let id = created["data"]["webhookCreate"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotated = app
        .graphql_as(
            &admin,
            "mutation($id: ID!) { webhookRotateSecret(input: { id: $id }) { secret } }",
            json!({ "id": id }),
        )
        .await;
    let new_secret = rotated["data"]["webhookRotateSecret"]["secret"]
        .as_str()
        .expect("the new secret")
        .to_string();

    // The row itself, as the database holds it.
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.db();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT secret, previous_secret FROM webhooks",
        ))
        .await
        .unwrap()
        .expect("the webhook row");
    let stored: String = row.try_get("", "secret").unwrap();
    let previous: String = row.try_get("", "previous_secret").unwrap();
    let test_key = key_id(crate::helpers::TEST_DATA_KEY);
    assert!(stored.starts_with(&format!("v1:{test_key}:")), "{stored}");
    assert!(
        previous.starts_with(&format!("v1:{test_key}:")),
        "{previous}"
    );
    for value in [&stored, &previous] {
        assert_sealed(value, &secret);
        assert_sealed(value, &new_secret);
    }

    // Copied to another column (or row), a sealed value does not open.
    let mut hook = {
        use sea_orm::EntityTrait;
        entity::webhook::Entity::find()
            .one(db)
            .await
            .unwrap()
            .unwrap()
    };
    let keyring = crate::helpers::test_keyring();
    assert_eq!(
        service::webhook::secret::current(&keyring, &hook).unwrap(),
        new_secret
    );
    hook.secret = previous.clone();
    assert!(service::webhook::secret::current(&keyring, &hook).is_err());
    // Nothing reads them back through the API.
    let shown = app
        .graphql_as(&admin, "{ webhooks { nodes { id url } } }", json!({}))
        .await
        .to_string();
    assert!(
        !shown.contains(&new_secret) && !shown.contains(&stored),
        "{shown}"
    );
}

#[tokio::test]
async fn the_previous_secret_signs_during_the_overlap_and_is_erased_when_it_ends() {
    use service::webhook::secret::signing;
    let (_database, db, world) = quiet_database().await;
    let keyring = crate::helpers::test_keyring();
    let hook = webhook_to(&db, &world, "http://127.0.0.1:9/hook").await;
    let admin = actor_of(&db, world.admin).await;
    let (rotated, _) = service::webhook::rotate_secret(&db, &admin, hook.id, &keyring)
        .await
        .unwrap();
    let until = rotated.previous_secret_expires_at.expect("an overlap");
    assert!(
        signing(&keyring, &rotated, until - chrono::Duration::minutes(1))
            .unwrap()
            .previous
            .is_some()
    );
    assert!(
        signing(&keyring, &rotated, until)
            .unwrap()
            .previous
            .is_none()
    );

    // During the overlap the retention job keeps it.
    let before = service::jobs::retention(
        &db,
        until - chrono::Duration::minutes(1),
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(before.previous_secrets, 0);
    assert!(webhook(&db, hook.id).await.previous_secret.is_some());
    // After it, the secret is gone from the row, not only unused.
    let after = service::jobs::retention(&db, until, &Default::default())
        .await
        .unwrap();
    assert_eq!(after.previous_secrets, 1);
    let row = webhook(&db, hook.id).await;
    assert_eq!(row.previous_secret, None);
    assert_eq!(row.previous_secret_expires_at, None);
    assert_eq!(row.secret, rotated.secret, "the current secret stays");
}

#[tokio::test]
async fn secrets_stored_in_plain_text_are_sealed_at_start_and_deliveries_still_verify() {
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let (database, db, world) = quiet_database().await;
    let mut receiver = Receiver::start(ok()).await;
    let hook = webhook_to(&db, &world, &receiver.url).await;
    // As a version before sealing stored them.
    let (current, previous) = (
        service::webhook::new_secret(),
        service::webhook::new_secret(),
    );
    entity::webhook::Entity::update(entity::webhook::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(hook.id),
        secret: Set(current.clone()),
        previous_secret: Set(Some(previous.clone())),
        previous_secret_expires_at: Set(Some(Utc::now() + chrono::Duration::hours(1))),
        ..Default::default()
    })
    .exec(&db)
    .await
    .unwrap();

    let started = api::Application::build(crate::helpers::settings_for(&database))
        .await
        .expect("starts");
    drop(started);
    let sealed = webhook(&db, hook.id).await;
    assert_sealed(&sealed.secret, &current);
    assert_sealed(sealed.previous_secret.as_deref().unwrap(), &previous);
    // A second start changes nothing.
    drop(
        api::Application::build(crate::helpers::settings_for(&database))
            .await
            .expect("starts again"),
    );
    assert_eq!(webhook(&db, hook.id).await, sealed);

    ping(&db, &world, &hook).await;
    assert_eq!(deliverer().run_due(&db, Utc::now(), 10).await.unwrap(), 1);
    let received = receiver.next().await;
    assert!(verify(&current, &received), "{received:?}");
    assert!(verify(&previous, &received), "{received:?}");
}

#[tokio::test]
async fn rewrap_seals_under_the_new_key_and_a_server_with_only_that_key_delivers() {
    let (database, db, world) = quiet_database().await;
    let mut receiver = Receiver::start(ok()).await;
    let hook = webhook_to(&db, &world, &receiver.url).await;
    let keyring = crate::helpers::test_keyring();
    let admin = actor_of(&db, world.admin).await;
    let old_secret = service::webhook::secret::current(&keyring, &hook).unwrap();
    let (_, new_secret) = service::webhook::rotate_secret(&db, &admin, hook.id, &keyring)
        .await
        .unwrap();
    let (old_key, new_key) = (crate::helpers::TEST_DATA_KEY.to_string(), data_key(7));
    let rewrap = |current: &str, previous: &str| {
        let mut command = helpdesk(&database);
        command
            .args(["data-key", "rewrap"])
            .env("HELPDESK_DATA_KEY", current)
            .env("HELPDESK_DATA_KEY_PREVIOUS", previous);
        crate::helpers::run(command, None)
    };

    let done = rewrap(&new_key, &old_key).await;
    assert_eq!(done.code, Some(0), "{}{}", done.stdout, done.stderr);
    assert!(
        done.stdout.contains(&format!(
            "1 webhook endpoint(s) again under data key {}",
            key_id(&new_key)
        )),
        "{}",
        done.stdout
    );
    let row = webhook(&db, hook.id).await;
    for stored in [&row.secret, row.previous_secret.as_ref().unwrap()] {
        assert!(
            stored.starts_with(&format!("v1:{}:", key_id(&new_key))),
            "{stored}"
        );
        assert_sealed(stored, &old_secret);
        assert_sealed(stored, &new_secret);
    }
    // Without the key that sealed them now, a rewrap changes nothing and says which key it
    // misses, never a key or a secret.
    let refused = rewrap(&old_key, "").await;
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("nothing changed"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&key_id(&new_key)),
        "{}",
        refused.stderr
    );
    assert_eq!(webhook(&db, hook.id).await, row);

    let serve = |key: &str| {
        let mut command = helpdesk(&database);
        command
            .args(["serve", "--no-demo"])
            .env("HELPDESK_ADDR", "127.0.0.1:0")
            .env("HELPDESK_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("HELPDESK_DATA_KEY", key);
        command
    };
    // A server with a key that does not open them refuses to start, in one line.
    let wrong = crate::helpers::run(serve(&old_key), None).await;
    assert_eq!(wrong.code, Some(1), "{}", wrong.stderr);
    let last = wrong.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{}", wrong.stderr);
    assert!(last.contains("cannot be opened"), "{last}");
    assert!(last.contains(&key_id(&new_key)), "{last}");
    for leak in [&old_key, &new_key, &old_secret, &new_secret] {
        assert!(!wrong.stderr.contains(leak.as_str()), "{}", wrong.stderr);
        assert!(!wrong.stdout.contains(leak.as_str()), "{}", wrong.stdout);
    }

    // With only the new key, deliveries verify under both secrets of the overlap.
    let server = RunningServer::start(serve(&new_key)).await;
    ping(&db, &world, &hook).await;
    let received = receiver.next().await;
    assert!(verify(&new_secret, &received), "{received:?}");
    assert!(verify(&old_secret, &received), "{received:?}");
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn without_a_data_key_postgresql_refuses_and_sqlite_keeps_one_in_a_file() {
    let database = TestDatabase::create().await;
    // A key that is not 32 bytes of base64 is refused, in one line naming the variable.
    for bad in ["short", "not base64 at all!", &data_key(1)[..20]] {
        let mut command = helpdesk(&database);
        command
            .args(["serve", "--no-demo"])
            .env("HELPDESK_ADDR", "127.0.0.1:0")
            .env("HELPDESK_DATA_KEY", bad);
        let output = crate::helpers::run(command, None).await;
        assert_eq!(output.code, Some(1), "{bad}: {}", output.stderr);
        assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
        assert!(
            output.stderr.starts_with("error: HELPDESK_DATA_KEY "),
            "{}",
            output.stderr
        );
    }
    let mut command = helpdesk(&database);
    command
        .args(["serve", "--no-demo"])
        .env("HELPDESK_ADDR", "127.0.0.1:0")
        .env_remove("HELPDESK_DATA_KEY");
    if database.is_postgres() {
        let output = crate::helpers::run(command, None).await;
        assert_eq!(output.code, Some(1), "{}", output.stderr);
        assert_eq!(output.stderr.lines().count(), 1, "{}", output.stderr);
        assert!(
            output
                .stderr
                .contains("HELPDESK_DATA_KEY is required on PostgreSQL"),
            "{}",
            output.stderr
        );
        return;
    }
    // SQLite: a key file beside the database, owner-only, reused on the next start.
    let file = database.scratch_dir().join("helpdesk.db.key");
    let first = RunningServer::start(command).await;
    // Served a request: its SIGTERM handler is in place.
    let alive = reqwest::get(format!("{}/healthz", first.address))
        .await
        .unwrap();
    assert!(alive.status().is_success());
    assert!(first.terminate().await.success());
    let key = std::fs::read_to_string(&file).expect("a key file beside the database");
    assert!(service::crypto::DataKey::from_base64(&key).is_ok(), "{key}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let mut again = helpdesk(&database);
    again
        .args(["data-key", "rewrap"])
        .env_remove("HELPDESK_DATA_KEY")
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1");
    let output = crate::helpers::run(again, None).await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(
        output.stderr.contains("helpdesk.db.key"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("back it up"), "{}", output.stderr);
    assert!(!output.stderr.contains(key.trim()), "{}", output.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), key, "reused");
}

#[tokio::test]
async fn after_a_lost_key_rewrap_can_replace_the_unreadable_secrets_and_disable_their_endpoints() {
    let (database, db, world) = quiet_database().await;
    let hook = webhook_to(&db, &world, "http://127.0.0.1:9/hook").await;
    // Sealed with the test key, which is now lost: only a new one is configured.
    let new_key = data_key(9);
    let mut command = helpdesk(&database);
    command
        .args(["data-key", "rewrap", "--replace-unreadable"])
        .env("HELPDESK_DATA_KEY", &new_key);
    let output = crate::helpers::run(command, None).await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert!(
        output
            .stdout
            .contains("replaced the unreadable secrets of 1 endpoint(s)"),
        "{}",
        output.stdout
    );
    let row = webhook(&db, hook.id).await;
    assert!(!row.enabled);
    assert!(
        row.disabled_reason
            .as_deref()
            .is_some_and(|r| r.contains("rotate the secret")),
        "{row:?}"
    );
    assert!(
        row.secret.starts_with(&format!("v1:{}:", key_id(&new_key))),
        "{}",
        row.secret
    );
    assert_eq!(row.previous_secret, None);
    // An administrator rotates it under the new key and gets a secret that signs.
    let keyring = service::crypto::Keyring::new(
        service::crypto::DataKey::from_base64(&new_key).unwrap(),
        vec![],
    );
    let admin = actor_of(&db, world.admin).await;
    let (_, secret) = service::webhook::rotate_secret(&db, &admin, hook.id, &keyring)
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"));
}

#[tokio::test]
async fn a_worker_without_the_key_sends_nothing_and_records_why_without_the_secret() {
    let (_database, db, world) = quiet_database().await;
    let mut receiver = Receiver::start(ok()).await;
    let hook = webhook_to(&db, &world, &receiver.url).await;
    let secret = service::webhook::secret::current(&crate::helpers::test_keyring(), &hook).unwrap();
    let other_key = data_key(11);
    let keyless = Deliverer::new(
        UrlPolicy {
            allow_private: true,
        },
        Duration::from_secs(5),
        Arc::new(service::crypto::Keyring::new(
            service::crypto::DataKey::from_base64(&other_key).unwrap(),
            vec![],
        )),
    );
    let id = ping(&db, &world, &hook).await;
    assert_eq!(keyless.run_due(&db, Utc::now(), 10).await.unwrap(), 1);
    let failed = delivery(&db, id).await;
    let error = failed.error.clone().unwrap_or_default();
    assert!(error.contains("cannot open the signing secret"), "{error}");
    assert!(
        error.contains(&key_id(crate::helpers::TEST_DATA_KEY)),
        "{error}"
    );
    for leak in [secret.as_str(), crate::helpers::TEST_DATA_KEY, &other_key] {
        assert!(!error.contains(leak), "{error}");
    }
    assert_eq!(failed.status, "PENDING", "retried once the key is there");
    assert!(receiver.nothing_yet(), "nothing was sent unsigned");
}

#[tokio::test]
async fn delivery_attempts_are_counted_by_outcome_in_the_metrics() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let mut accepting = Receiver::start(ok()).await;
    // 410 Gone: the delivery fails for good at once (and the endpoint is disabled).
    let mut gone = Receiver::start(Answer::Status(410, vec![])).await;
    for receiver in [&accepting, &gone] {
        create_webhook(
            &app,
            &admin,
            json!({ "url": receiver.url, "events": ["COMMENT_CREATED"] }),
        )
        .await;
    }
    comment(&app, &admin, world.ticket_a, "Counted").await;
    accepting.next().await;
    gone.next().await;

    // The outcomes are counted once recorded, just after the answers arrive.
    let counted = |body: &str, outcome: &str| {
        crate::helpers::metric_value(
            body,
            &format!("helpdesk_webhook_attempts_total{{outcome=\"{outcome}\"}}"),
        )
        .unwrap_or(0.0)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    let body = loop {
        ticks.tick().await;
        let body = app.get("/metrics").await.text().await.unwrap();
        if counted(&body, "delivered") + counted(&body, "failed") >= 2.0
            || tokio::time::Instant::now() > deadline
        {
            break body;
        }
    };
    assert_eq!(counted(&body, "delivered"), 1.0, "{body}");
    assert_eq!(counted(&body, "failed"), 1.0, "{body}");
    assert_eq!(counted(&body, "retry"), 0.0, "{body}");
    assert!(
        body.contains("# TYPE helpdesk_email_attempts counter"),
        "{body}"
    );
}
