//! Sessions end when they must: a password change, a lock or a role change refuses every
//! token issued before it and closes that user's sockets with 4403; pushes are resolved with
//! the account as it is now; sockets are capped per user and per address.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, World, email_of, gid};
use crate::subscriptions::{connected, listening, next, open_at, send};

const COMMENTS: &str = "subscription { ticketEvents(filter: { kinds: [\"comment.created\"] }) { comment { body internal } } }";

async fn subscribe_comments(socket: &mut crate::subscriptions::Socket) {
    send(
        socket,
        json!({ "id": "c", "type": "subscribe", "payload": { "query": COMMENTS } }),
    )
    .await;
}

async fn comment(app: &TestApp, token: &str, ticket: uuid::Uuid, body: &str, internal: bool) {
    app.comment_as(token, &gid("Ticket", ticket), body, internal)
        .await;
}

#[tokio::test]
async fn a_password_change_closes_that_users_sockets_with_4403_and_no_one_elses() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let other = app.login(&email_of("agent_b"), PASSWORD).await;
    let mut socket = connected(&app.address, &agent).await;
    let mut bystander = connected(&app.address, &other).await;
    subscribe_comments(&mut socket).await;
    subscribe_comments(&mut bystander).await;
    listening(&app.address, 2).await;

    app.change_password(&agent, "a brand new password").await;
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4403 })
    );
    // The other user's socket still delivers.
    comment(&app, &other, world.ticket_b, "still here", false).await;
    let message = next(&mut bystander).await;
    assert_eq!(
        message["payload"]["data"]["ticketEvents"]["comment"]["body"], "still here",
        "{message}"
    );
}

#[tokio::test]
async fn a_demoted_agent_is_disconnected_at_once() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let mut socket = connected(&app.address, &agent).await;
    subscribe_comments(&mut socket).await;
    listening(&app.address, 1).await;
    let demoted = app
        .graphql_as(
            &admin,
            "mutation($id: ID!) { userUpdate(input: { id: $id, role: CLIENT }) { user { role } } }",
            json!({ "id": gid("User", world.agent_a) }),
        )
        .await;
    assert_eq!(
        demoted["data"]["userUpdate"]["user"]["role"], "CLIENT",
        "{demoted}"
    );
    assert_eq!(
        next(&mut socket).await,
        json!({ "type": "closed", "code": 4403 })
    );
}

/// A change made where no socket is told (another process, a lost notice): the next push is
/// still resolved with the account as it is now, and the ended session gets nothing more.
#[tokio::test]
async fn a_push_after_a_demotion_carries_no_internal_note_even_without_the_notice() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let admin_token = app.login(&email_of("admin"), PASSWORD).await;
    let mut socket = connected(&app.address, &agent).await;
    subscribe_comments(&mut socket).await;
    listening(&app.address, 1).await;
    comment(
        &app,
        &admin_token,
        world.ticket_a,
        "note while an agent",
        true,
    )
    .await;
    let before = next(&mut socket).await;
    assert_eq!(
        before["payload"]["data"]["ticketEvents"]["comment"]["internal"], true,
        "{before}"
    );

    let admin = crate::helpers::actor_of(app.db(), world.admin).await;
    service::user::update_as(
        app.db(),
        &admin,
        world.agent_a,
        service::user::UserChanges {
            role: Some(entity::enums::Role::Client),
            ..Default::default()
        },
        &Default::default(),
    )
    .await
    .unwrap();
    comment(
        &app,
        &admin_token,
        world.ticket_a,
        "note after the demotion",
        true,
    )
    .await;
    let after = next(&mut socket).await;
    assert!(!after.to_string().contains("after the demotion"), "{after}");
    assert_eq!(
        after["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{after}"
    );
    assert!(after["payload"]["data"].is_null(), "{after}");
}

#[tokio::test]
async fn sockets_over_the_per_user_cap_are_closed_with_4429() {
    let app = TestApp::spawn_with(|s| s.server.max_sockets_per_user = 2).await;
    World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let _first = connected(&app.address, &agent).await;
    let mut second = connected(&app.address, &agent).await;
    let mut third = open_at(&app.address, "/graphql/ws", "graphql-transport-ws").await;
    send(
        &mut third,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {agent}") } }),
    )
    .await;
    assert_eq!(
        next(&mut third).await,
        json!({ "type": "closed", "code": 4429 })
    );
    // Another user is not held up; and once a socket closes, there is room again.
    let other = app.login(&email_of("agent_b"), PASSWORD).await;
    let _other = connected(&app.address, &other).await;
    second.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.metric("helpdesk_websockets_open").await != 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the socket never closed"
        );
        tokio::task::yield_now().await;
    }
    let mut again = open_at(&app.address, "/graphql/ws", "graphql-transport-ws").await;
    send(
        &mut again,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {agent}") } }),
    )
    .await;
    assert_eq!(next(&mut again).await["type"], "connection_ack");
}

#[tokio::test]
async fn sockets_over_the_per_address_cap_are_closed_with_4429() {
    let app = TestApp::spawn_with(|s| s.server.max_sockets_per_address = 2).await;
    World::build(app.db()).await;
    let _first = open_at(&app.address, "/graphql/ws", "graphql-transport-ws").await;
    let _second = open_at(&app.address, "/graphql/ws", "graphql-transport-ws").await;
    let mut third = open_at(&app.address, "/graphql/ws", "graphql-transport-ws").await;
    assert_eq!(
        next(&mut third).await,
        json!({ "type": "closed", "code": 4429 })
    );
}
