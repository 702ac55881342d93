//! Live updates over WebSocket (`graphql-transport-ws`), with the real server and a real client.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{PASSWORD, TestApp, World, email_of, gid};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Comment events only: the fixtures' own ticket.created events may still be on their way.
const EVENTS: &str = "subscription { ticketEvents(filter: { kinds: [\"comment.created\"] }) { kind ticket { title } comment { body internal } } }";

async fn open(app: &TestApp) -> Socket {
    let url = format!("{}/graphql/ws", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("send");
}

/// The next protocol message (pings answered), within ten seconds.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
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

async fn subscribed(app: &TestApp, user: &str) -> Socket {
    let token = app.login(&email_of(user), PASSWORD).await;
    let mut socket = open(app).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })).await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": EVENTS } }),
    )
    .await;
    socket
}

async fn comment(app: &TestApp, user: &str, ticket: uuid::Uuid, body: &str, internal: bool) {
    let token = app.login(&email_of(user), PASSWORD).await;
    let response = app
        .graphql_as(
            &token,
            "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } userErrors { code } } }",
            json!({ "input": { "ticketId": gid("Ticket", ticket), "body": body, "internal": internal } }),
        )
        .await;
    assert!(
        response["data"]["commentCreate"]["comment"].is_object(),
        "{response}"
    );
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
    assert_eq!(event["kind"], "comment.created", "{message}");
    assert_eq!(event["ticket"]["title"], "Ticket of A");
    assert_eq!(event["comment"]["body"], "Any news?");
}

#[tokio::test]
async fn subscribers_receive_only_what_they_may_see() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let mut client_a = subscribed(&app, "client_a").await;
    let mut client_b = subscribed(&app, "client_b").await;
    // In commit order: A's internal note, A's public reply, then B's own comment.
    comment(&app, "agent_a", world.ticket_a, "Internal: VIP", true).await;
    comment(&app, "agent_a", world.ticket_a, "We are on it", false).await;
    comment(&app, "client_b", world.ticket_b, "Hello from B", false).await;

    let first = next(&mut client_a).await;
    assert_eq!(
        first["payload"]["data"]["ticketEvents"]["comment"]["body"], "We are on it",
        "{first}"
    );
    let first = next(&mut client_b).await;
    assert_eq!(
        first["payload"]["data"]["ticketEvents"]["comment"]["body"], "Hello from B",
        "{first}"
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
