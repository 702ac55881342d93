//! Sessions end when they must: a password change, a lock or a role change refuses every
//! token issued before it and closes that user's sockets with 4403; pushes are resolved with
//! the account as it is now; sockets are capped per user and per address.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, World, email_of, gid};
use crate::subscriptions::{connected, listening, next, open_at, send};

const COMMENTS: &str = "subscription { ticketEvents(filter: { kinds: [COMMENT_CREATED] }) { comment { body internal } } }";

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

/// Signs `who` in from a client that calls itself `agent`: (access token, refresh token).
async fn sign_in_as(app: &TestApp, who: &str, agent: &str) -> (String, String) {
    let answer: serde_json::Value = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("user-agent", agent)
        .json(&json!({
            "query": "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken refreshToken } }",
            "variables": { "input": { "email": email_of(who), "password": PASSWORD } },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let login = &answer["data"]["authLogin"];
    (
        login["accessToken"].as_str().unwrap().to_string(),
        login["refreshToken"].as_str().unwrap().to_string(),
    )
}

const SESSIONS: &str =
    "{ me { sessions { nodes { id device ipAddress createdAt lastUsedAt current } } } }";
const REVOKE: &str = "mutation($input: SessionRevokeInput!) { sessionRevoke(input: $input) { success userErrors { field code } } }";

async fn sessions_of(app: &TestApp, token: &str) -> Vec<serde_json::Value> {
    let answer = app.graphql_as(token, SESSIONS, json!({})).await;
    answer["data"]["me"]["sessions"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .clone()
}

#[tokio::test]
async fn sessions_are_listed_with_the_current_one_and_end_one_family_at_a_time() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let (laptop, _) = sign_in_as(
        &app,
        "agent_a",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )
    .await;
    let (script, script_refresh) = sign_in_as(&app, "agent_a", "curl/8.5.0").await;

    let listed = sessions_of(&app, &laptop).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    let current: Vec<&serde_json::Value> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"], "Firefox on Linux");
    assert_eq!(current[0]["ipAddress"], "127.0.0.1");
    let other = listed.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(other["device"], "curl");
    // From the script, the script's session is the current one.
    let from_script = sessions_of(&app, &script).await;
    assert_eq!(
        from_script.iter().find(|s| s["current"] == true).unwrap()["id"],
        other["id"]
    );

    // Someone else may neither see nor end them; an administrator may do both.
    let agent_b = app.login(&email_of("agent_b"), PASSWORD).await;
    let peek = app
        .graphql_as(
            &agent_b,
            "query($id: ID!) { user(id: $id) { sessions { nodes { id } } } }",
            json!({ "id": gid("User", world.agent_a) }),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&peek), "FORBIDDEN", "{peek}");
    let stranger = app
        .graphql_as(&agent_b, REVOKE, json!({ "input": { "id": other["id"] } }))
        .await;
    assert_eq!(
        crate::helpers::error_code(&stranger),
        "NOT_FOUND",
        "{stranger}"
    );
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let seen = app
        .graphql_as(
            &admin,
            "query($id: ID!) { user(id: $id) { sessions { nodes { id current } } } }",
            json!({ "id": gid("User", world.agent_a) }),
        )
        .await;
    assert_eq!(
        seen["data"]["user"]["sessions"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{seen}"
    );

    // Ending the script's session ends exactly that one: its access and refresh tokens.
    let revoked = app
        .graphql_as(&laptop, REVOKE, json!({ "input": { "id": other["id"] } }))
        .await;
    assert_eq!(
        revoked["data"]["sessionRevoke"]["success"], true,
        "{revoked}"
    );
    let me = app.graphql_as(&script, "{ me { id } }", json!({})).await;
    assert_eq!(crate::helpers::error_code(&me), "UNAUTHENTICATED");
    let refreshed = app
        .graphql(
            "mutation($input: AuthRefreshInput!) { authRefresh(input: $input) { accessToken } }",
            json!({ "input": { "refreshToken": script_refresh } }),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&refreshed), "UNAUTHENTICATED");
    let me = app.graphql_as(&laptop, "{ me { id } }", json!({})).await;
    assert_eq!(me["data"]["me"]["id"], gid("User", world.agent_a));
    assert_eq!(sessions_of(&app, &laptop).await.len(), 1);

    // Ending the others keeps the current one.
    let (phone, _) = sign_in_as(
        &app,
        "agent_a",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1",
    )
    .await;
    let (tablet, _) = sign_in_as(
        &app,
        "agent_a",
        "Mozilla/5.0 (Linux; Android 14) Chrome/126.0",
    )
    .await;
    let others = app
        .graphql_as(
            &laptop,
            "mutation { sessionRevokeOthers { revoked } }",
            json!({}),
        )
        .await;
    assert_eq!(
        others["data"]["sessionRevokeOthers"]["revoked"], 2,
        "{others}"
    );
    for token in [&phone, &tablet] {
        let me = app.graphql_as(token, "{ me { id } }", json!({})).await;
        assert_eq!(crate::helpers::error_code(&me), "UNAUTHENTICATED");
    }
    let left = sessions_of(&app, &laptop).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    // The agent_b's own session was never touched.
    let me = app.graphql_as(&agent_b, "{ me { id } }", json!({})).await;
    assert_eq!(me["data"]["me"]["id"], gid("User", world.agent_b));
}
