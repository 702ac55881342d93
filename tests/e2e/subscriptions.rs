//! Live updates over WebSocket (`graphql-transport-ws`), with the real server and a real client.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{PASSWORD, RunningServer, TestApp, World, email_of, gid, helpdesk, redis_url};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Comment events only: the fixtures' own ticket.created events may still be on their way.
const EVENTS: &str = "subscription { ticketEvents(filter: { kinds: [COMMENT_CREATED] }) { id position kind ticket { title } comment { body internal } } }";

pub async fn open_at(address: &str, path: &str, protocol: &'static str) -> Socket {
    let url = format!("{}{path}", address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    socket
}

async fn open(app: &TestApp) -> Socket {
    open_at(&app.address, "/graphql/ws", "graphql-transport-ws").await
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

/// The next protocol message (pings answered), within ten seconds.
pub async fn next(socket: &mut Socket) -> Value {
    next_within(socket, Duration::from_secs(10)).await
}

async fn next_within(socket: &mut Socket, limit: Duration) -> Value {
    loop {
        let message = tokio::time::timeout(limit, socket.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a frame");
        match message {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" {
                    send(socket, json!({ "type": "pong" })).await;
                    continue;
                }
                return value;
            }
            Message::Close(frame) => {
                return json!({ "type": "closed", "code": frame.map(|f| u16::from(f.code)) });
            }
            _ => continue,
        }
    }
}

/// A socket past `connection_init`, signed in with `token`.
pub async fn connected(address: &str, token: &str) -> Socket {
    let mut socket = open_at(address, "/graphql/ws", "graphql-transport-ws").await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    socket
}

/// Waits (at most ten seconds) until the server counts `count` active subscriptions: a
/// subscription is registered only once the server processed the `subscribe` message, which
/// the protocol does not acknowledge.
pub async fn listening(address: &str, count: u64) {
    counting(address, &[("helpdesk_subscriptions_active", count)]).await;
}

/// Waits (at most ten seconds) until each of the server's gauges has its value.
async fn counting(address: &str, gauges: &[(&str, u64)]) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .unwrap();
        let counted: Vec<_> = gauges
            .iter()
            .map(|(name, _)| crate::helpers::metric_value(&body, name))
            .collect();
        if gauges
            .iter()
            .zip(&counted)
            .all(|((_, value), counted)| *counted == Some(*value as f64))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{gauges:?} not reached after 10 s: {counted:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn subscribed(app: &TestApp, user: &str) -> Socket {
    subscribed_to(app, user, EVENTS, 1).await
}

async fn subscribed_to(app: &TestApp, user: &str, query: &str, active: u64) -> Socket {
    let token = app.login(&email_of(user), PASSWORD).await;
    let mut socket = connected(&app.address, &token).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
    listening(&app.address, active).await;
    socket
}

async fn comment_at(address: &str, token: &str, ticket: uuid::Uuid, body: &str, internal: bool) {
    let response: Value = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({
            "query": "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } userErrors { code } } }",
            "variables": { "input": { "ticketId": gid("Ticket", ticket), "body": body, "internal": internal } },
        }))
        .send()
        .await
        .expect("POST /graphql")
        .json()
        .await
        .unwrap();
    assert!(
        response["data"]["commentCreate"]["comment"].is_object(),
        "{response}"
    );
}

async fn comment(app: &TestApp, user: &str, ticket: uuid::Uuid, body: &str, internal: bool) {
    let token = app.login(&email_of(user), PASSWORD).await;
    comment_at(&app.address, &token, ticket, body, internal).await;
}

fn body_of(message: &Value) -> &Value {
    &message["payload"]["data"]["ticketEvents"]["comment"]["body"]
}

#[tokio::test]
async fn a_committed_change_reaches_a_subscriber() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let mut socket = subscribed(&app, "agent_a").await;
    comment(&app, "client_a", world.ticket_a, "Any news?", false).await;
    let message = next(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    let event = &message["payload"]["data"]["ticketEvents"];
    assert_eq!(event["kind"], "COMMENT_CREATED", "{message}");
    assert_eq!(event["ticket"]["title"], "Ticket of A");
    assert_eq!(event["comment"]["body"], "Any news?");
}

/// With PostgreSQL and Redis: a second server process on the same database and Redis serves
/// the subscriber, and the change is made through the first. On the embedded default there is
/// one process and the in-process bus.
#[tokio::test]
async fn a_change_through_one_server_reaches_a_subscriber_of_another_exactly_once() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let second = match redis_url() {
        Some(redis) if app.database.is_postgres() => {
            let mut command = helpdesk(&app.database);
            command
                .args(["serve", "--no-demo"])
                .env("HELPDESK_ADDR", "127.0.0.1:0")
                .env("REDIS_URL", redis)
                .env("HELPDESK_REDIS_PREFIX", app.database.redis_prefix());
            Some(RunningServer::start(command).await)
        }
        _ => {
            eprintln!(
                "no PostgreSQL and Redis configured: one server process on the in-process bus"
            );
            None
        }
    };
    let subscriber_address = second
        .as_ref()
        .map_or(app.address.clone(), |s| s.address.clone());
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut socket = connected(&subscriber_address, &agent).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    listening(&subscriber_address, 1).await;

    let client = app.login(&email_of("client_a"), PASSWORD).await;
    comment_at(&app.address, &client, world.ticket_a, "First", false).await;
    comment_at(&app.address, &client, world.ticket_a, "Second", false).await;
    let first = next(&mut socket).await;
    assert_eq!(body_of(&first), "First", "{first}");
    // Exactly once: the next message is the next change, not the first one again.
    let second_message = next(&mut socket).await;
    assert_eq!(body_of(&second_message), "Second", "{second_message}");
    let first_id: i64 = first["payload"]["data"]["ticketEvents"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let second_id: i64 = second_message["payload"]["data"]["ticketEvents"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(first_id < second_id);
    if let Some(second) = second {
        assert!(second.terminate().await.success());
    }
}

#[tokio::test]
async fn subscribers_receive_only_what_they_may_see() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let mut client_a = subscribed_to(&app, "client_a", EVENTS, 1).await;
    let mut client_b = subscribed_to(&app, "client_b", EVENTS, 2).await;
    // In commit order: A's internal note, A's public reply, then B's own comment.
    comment(&app, "agent_a", world.ticket_a, "Internal: VIP", true).await;
    comment(&app, "agent_a", world.ticket_a, "We are on it", false).await;
    comment(&app, "client_b", world.ticket_b, "Hello from B", false).await;

    let first = next(&mut client_a).await;
    assert_eq!(body_of(&first), "We are on it", "{first}");
    let first = next(&mut client_b).await;
    assert_eq!(body_of(&first), "Hello from B", "{first}");
}

#[tokio::test]
async fn an_agent_stops_receiving_a_ticket_that_leaves_their_reach() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    // Agent B serves organization B; A's ticket is theirs only while assigned to them.
    entity::ticket::Entity::update(entity::ticket::ActiveModel {
        id: sea_orm::ActiveValue::Set(world.ticket_a),
        assignee_id: sea_orm::ActiveValue::Set(Some(world.agent_b)),
        ..Default::default()
    })
    .exec(app.db())
    .await
    .unwrap();
    let mut agent_b = subscribed(&app, "agent_b").await;
    comment(&app, "client_a", world.ticket_a, "While assigned", false).await;
    assert_eq!(body_of(&next(&mut agent_b).await), "While assigned");

    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let unassigned = app
        .graphql_as(
            &admin,
            "mutation($input: TicketAssignInput!) { ticketAssign(input: $input) { ticket { id } } }",
            json!({ "input": { "id": gid("Ticket", world.ticket_a), "assigneeId": null } }),
        )
        .await;
    assert!(
        unassigned["data"]["ticketAssign"]["ticket"].is_object(),
        "{unassigned}"
    );
    comment(&app, "client_a", world.ticket_a, "After unassigning", false).await;
    comment(&app, "client_b", world.ticket_b, "In B", false).await;
    // The next event agent B gets is B's own, committed after the one they may no longer see.
    let message = next(&mut agent_b).await;
    assert_eq!(body_of(&message), "In B", "{message}");
}

#[tokio::test]
async fn a_resuming_subscriber_gets_what_it_missed_then_live_events_without_gap_or_duplicate() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let mut socket = subscribed(&app, "agent_a").await;
    comment(&app, "client_a", world.ticket_a, "one", false).await;
    let first = next(&mut socket).await;
    assert_eq!(body_of(&first), "one");
    let last_seen = first["payload"]["data"]["ticketEvents"]["position"].clone();
    drop(socket);
    listening(&app.address, 0).await;

    // Committed while nobody listened.
    comment(&app, "client_a", world.ticket_a, "two", false).await;
    comment(&app, "client_a", world.ticket_a, "three", false).await;

    let token = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut socket = connected(&app.address, &token).await;
    let query = "subscription($after: ID) { ticketEvents(after: $after, filter: { kinds: [COMMENT_CREATED] }) { id comment { body } } }";
    send(
        &mut socket,
        json!({ "id": "r", "type": "subscribe", "payload": { "query": query, "variables": { "after": last_seen } } }),
    )
    .await;
    listening(&app.address, 1).await;
    comment(&app, "client_a", world.ticket_a, "four", false).await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let message = next(&mut socket).await;
        bodies.push(body_of(&message).as_str().unwrap_or_default().to_string());
    }
    assert_eq!(bodies, ["two", "three", "four"]);
    comment(&app, "client_a", world.ticket_a, "five", false).await;
    assert_eq!(body_of(&next(&mut socket).await), "five");

    // A malformed `after` is refused with the field named.
    send(
        &mut socket,
        json!({ "id": "bad", "type": "subscribe", "payload": { "query": query, "variables": { "after": "yesterday" } } }),
    )
    .await;
    let refused = next(&mut socket).await;
    assert_eq!(refused["id"], "bad", "{refused}");
    let error = &refused["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    assert_eq!(error["extensions"]["field"], "after", "{refused}");
}

#[tokio::test]
async fn ticket_updated_sends_the_current_state_first_then_every_change() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let query =
        "subscription($id: ID!) { ticketUpdated(id: $id, initial: true) { title priority } }";
    let token = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut socket = connected(&app.address, &token).await;
    send(
        &mut socket,
        json!({ "id": "t", "type": "subscribe", "payload": { "query": query, "variables": { "id": gid("Ticket", world.ticket_a) } } }),
    )
    .await;
    let initial = next(&mut socket).await;
    assert_eq!(
        initial["payload"]["data"]["ticketUpdated"],
        json!({ "title": "Ticket of A", "priority": "MEDIUM" }),
        "{initial}"
    );
    let update = app
        .graphql_as(
            &token,
            "mutation($input: TicketUpdateInput!) { ticketUpdate(input: $input) { ticket { id } } }",
            json!({ "input": { "id": gid("Ticket", world.ticket_a), "priority": "CRITICAL", "title": "Printer on fire" } }),
        )
        .await;
    assert!(
        update["data"]["ticketUpdate"]["ticket"].is_object(),
        "{update}"
    );
    let changed = next(&mut socket).await;
    assert_eq!(
        changed["payload"]["data"]["ticketUpdated"],
        json!({ "title": "Printer on fire", "priority": "CRITICAL" }),
        "{changed}"
    );

    // A ticket the viewer may not read is not found.
    let client_b = app.login(&email_of("client_b"), PASSWORD).await;
    let mut socket = connected(&app.address, &client_b).await;
    send(
        &mut socket,
        json!({ "id": "t", "type": "subscribe", "payload": { "query": query, "variables": { "id": gid("Ticket", world.ticket_a) } } }),
    )
    .await;
    let refused = next(&mut socket).await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{refused}"
    );
}

#[tokio::test]
async fn the_handshake_closes_with_the_protocols_codes() {
    let app = TestApp::spawn().await;

    // A missing or bad token: 4403.
    for payload in [json!({ "authorization": "Bearer forged" }), json!({})] {
        let mut socket = open(&app).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(
            next(&mut socket).await,
            json!({ "type": "closed", "code": 4403 }),
            "{payload}"
        );
    }
    // A subscription before the handshake: 4401.
    let mut socket = open(&app).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4401 })
    );
    // Not a protocol message: 4400.
    let mut socket = open(&app).await;
    socket.send(Message::Text("hello".into())).await.unwrap();
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4400 })
    );
    // Nothing at all: 4408 once the 3 s for `connection_init` have passed.
    let mut socket = open(&app).await;
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4408 })
    );
}

#[tokio::test]
async fn a_connection_closes_with_the_protocols_codes_after_the_handshake() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let token = app.login(&email_of("agent_a"), PASSWORD).await;

    // A second connection_init: 4429.
    let mut socket = connected(&app.address, &token).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4429 })
    );

    // An operation id already running: 4409.
    let mut socket = connected(&app.address, &token).await;
    for _ in 0..2 {
        send(
            &mut socket,
            json!({ "id": "same", "type": "subscribe", "payload": { "query": EVENTS } }),
        )
        .await;
    }
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4409 })
    );

    // Garbage after the handshake: 4400.
    let mut socket = connected(&app.address, &token).await;
    socket.send(Message::Text("{".into())).await.unwrap();
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4400 })
    );
}

#[tokio::test]
async fn a_socket_runs_at_most_twenty_subscriptions() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let token = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut socket = connected(&app.address, &token).await;
    for id in 0..20 {
        send(
            &mut socket,
            json!({ "id": id.to_string(), "type": "subscribe", "payload": { "query": EVENTS } }),
        )
        .await;
    }
    listening(&app.address, 20).await;
    send(
        &mut socket,
        json!({ "id": "21st", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    let refused = next(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "21st");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    // Completing one makes room again.
    send(&mut socket, json!({ "id": "0", "type": "complete" })).await;
    listening(&app.address, 19).await;
    // Queries and mutations are refused: they go over HTTP, where the account is read again
    // for every request.
    send(
        &mut socket,
        json!({ "id": "m", "type": "subscribe", "payload": { "query": "mutation { authLogout { success } }" } }),
    )
    .await;
    let refused = next(&mut socket).await;
    assert_eq!(refused["id"], "m", "{refused}");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "BAD_REQUEST");
    send(
        &mut socket,
        json!({ "id": "21st", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    listening(&app.address, 20).await;
}

#[tokio::test]
async fn a_socket_whose_token_expires_is_closed_with_4403() {
    let app = TestApp::spawn_with(|s| s.auth.access_token_ttl_secs = 3).await;
    World::build(app.db()).await;
    let token = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut socket = connected(&app.address, &token).await;
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4403 })
    );
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1012_and_waits_for_them() {
    let mut app = TestApp::spawn().await;
    World::build(app.db()).await;
    let token = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut socket = connected(&app.address, &token).await;
    app.signal_shutdown();
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 1012 })
    );
    app.stop().await;
}

#[tokio::test]
async fn subscriptions_are_served_as_an_upgrade_of_graphql_with_the_token_in_the_header_and_over_the_legacy_protocol()
 {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = app.login(&email_of("agent_a"), PASSWORD).await;

    // graphql-transport-ws on /graphql, the token in the upgrade request's header.
    let url = format!("{}/graphql", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    request.headers_mut().insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let (mut modern, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send(
        &mut modern,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(next(&mut modern).await["type"], "connection_ack");
    send(
        &mut modern,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;

    // The older graphql-ws protocol.
    let mut legacy = open_at(&app.address, "/graphql/ws", "graphql-ws").await;
    send(&mut legacy, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut legacy).await["type"], "connection_ack");
    send(
        &mut legacy,
        json!({ "id": "1", "type": "start", "payload": { "query": EVENTS } }),
    )
    .await;
    listening(&app.address, 2).await;

    comment(&app, "client_a", world.ticket_a, "To both", false).await;
    assert_eq!(body_of(&next(&mut modern).await), "To both");
    let message = next(&mut legacy).await;
    assert_eq!(message["type"], "data", "{message}");
    assert_eq!(body_of(&message), "To both");
}

/// A subscription over the document limits is refused with its limit's code before
/// async-graphql sees it, a fragment bomb included (its expansion would take the server's
/// memory), and the socket goes on serving the subscriptions that fit.
#[tokio::test]
async fn subscriptions_over_the_document_limits_are_refused_before_they_run() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let token = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut socket = connected(&app.address, &token).await;
    let aliases: String = (0..101)
        .map(|n| format!("a{n}: ticketEvents {{ id }} "))
        .collect();
    let mut bomb = String::from("subscription { ticketEvents { ...F0 } }");
    for n in 0..40 {
        bomb.push_str(&format!(
            " fragment F{n} on TicketEvent {{ ...F{next} ...F{next} }}",
            next = n + 1
        ));
    }
    bomb.push_str(" fragment F40 on TicketEvent { id }");
    let deep = format!(
        "subscription {{ ticketEvents {{ ticket {{ {}id{} }} }} }}",
        "organization { tickets(first: 1) { nodes { ".repeat(5),
        " } } }".repeat(5)
    );
    for (id, query, code) in [
        (
            "aliases",
            format!("subscription {{ {aliases}}}"),
            "ALIAS_LIMIT",
        ),
        ("bomb", bomb, "COMPLEXITY_LIMIT"),
        ("deep", deep, "DEPTH_LIMIT"),
    ] {
        send(
            &mut socket,
            json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
        )
        .await;
        let refused = next(&mut socket).await;
        assert_eq!(refused["id"], id, "{refused}");
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(
            refused["payload"][0]["extensions"]["code"], code,
            "{refused}"
        );
    }
    // The refused ids are free again, and a subscription that fits runs.
    send(
        &mut socket,
        json!({ "id": "aliases", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    listening(&app.address, 1).await;
}

/// Waits until the server counts `active` subscriptions run by `groups` shared operations.
async fn shared_as(address: &str, active: u64, groups: u64) {
    counting(
        address,
        &[
            ("helpdesk_subscriptions_active", active),
            ("helpdesk_subscription_groups", groups),
        ],
    )
    .await;
}

/// Sockets that subscribe the same live operation as the same account (one sign-in, as the
/// tabs of one browser) share one execution; each still gets every push under its own id, and
/// what one may not see reaches none of another account's sockets.
#[tokio::test]
async fn sockets_of_one_account_share_one_execution_of_the_same_subscription() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut tabs = Vec::new();
    for tab in 0..3 {
        let mut socket = connected(&app.address, &agent).await;
        let id = format!("tab-{tab}");
        send(
            &mut socket,
            json!({ "id": id, "type": "subscribe", "payload": { "query": EVENTS } }),
        )
        .await;
        tabs.push((socket, id));
    }
    shared_as(&app.address, 3, 1).await;
    // Another document, another sign-in of the same user, and another account each run on
    // their own; a resuming subscription is never shared.
    let mut other_document = connected(&app.address, &agent).await;
    send(
        &mut other_document,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { ticketEvents(filter: { kinds: [COMMENT_CREATED] }) { id } }" } }),
    )
    .await;
    let second_sign_in = app.login(&email_of("agent_a"), PASSWORD).await;
    let mut other_session = connected(&app.address, &second_sign_in).await;
    send(
        &mut other_session,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    let client_token = app.login(&email_of("client_a"), PASSWORD).await;
    let mut client = connected(&app.address, &client_token).await;
    send(
        &mut client,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    shared_as(&app.address, 6, 4).await;

    comment(&app, "agent_a", world.ticket_a, "Internal: VIP", true).await;
    comment(&app, "client_a", world.ticket_a, "Any news?", false).await;
    for (socket, id) in &mut tabs {
        let note = next(socket).await;
        assert_eq!(note["type"], "next", "{note}");
        assert_eq!(note["id"], id.as_str(), "{note}");
        assert_eq!(body_of(&note), "Internal: VIP", "{note}");
        assert_eq!(body_of(&next(socket).await), "Any news?");
    }
    assert_eq!(body_of(&next(&mut other_session).await), "Internal: VIP");
    let first = next(&mut other_document).await;
    assert!(
        first["payload"]["data"]["ticketEvents"]["id"].is_string(),
        "{first}"
    );
    // The client's first event is the public reply: nothing of the note reached its socket.
    let first = next(&mut client).await;
    assert_eq!(body_of(&first), "Any news?", "{first}");

    // A tab that completes its subscription leaves the group; one that closes leaves it too;
    // the last tab still gets every push.
    let (mut completed, id) = tabs.remove(0);
    send(&mut completed, json!({ "id": id, "type": "complete" })).await;
    drop(tabs.remove(0));
    shared_as(&app.address, 4, 4).await;
    comment(&app, "client_a", world.ticket_a, "Still there?", false).await;
    let (last, id) = &mut tabs[0];
    let message = next(last).await;
    assert_eq!(message["id"], id.as_str(), "{message}");
    assert_eq!(body_of(&message), "Still there?", "{message}");
    // The completed tab's socket is still open and gets nothing more: the next message it
    // sees answers its own new subscription's first push.
    send(
        &mut completed,
        json!({ "id": "again", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    shared_as(&app.address, 5, 4).await;
    comment(&app, "client_a", world.ticket_a, "Once more", false).await;
    let message = next(&mut completed).await;
    assert_eq!(message["id"], "again", "{message}");
    assert_eq!(body_of(&message), "Once more", "{message}");

    // When the last socket of a group goes, so does its execution.
    drop(tabs);
    drop(completed);
    shared_as(&app.address, 3, 3).await;
}
