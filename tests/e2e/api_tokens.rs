//! API tokens for integrations, over HTTP and WebSocket.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::subscriptions::{connected, listening, next, send};

const CREATE: &str = "mutation($input: ApiTokenCreateInput!) { apiTokenCreate(input: $input) { token apiToken { id name prefix readOnly expiresAt lastUsedAt } userErrors { field code } } }";
const TICKETS: &str = "{ tickets(first: 50) { nodes { id } } }";

async fn create(app: &TestApp, token: &str, input: Value) -> Value {
    let answer = app
        .graphql_as(token, CREATE, json!({ "input": input }))
        .await;
    answer["data"]["apiTokenCreate"].clone()
}

fn ticket_ids(answer: &Value) -> Vec<String> {
    answer["data"]["tickets"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tokens_act_within_their_owners_access_read_only_ones_only_read_and_revoked_or_expired_ones_nothing()
 {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;

    let full = create(&app, &agent, json!({ "name": "CRM sync" })).await;
    let full_token = full["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{full}"))
        .to_string();
    assert!(full_token.starts_with("hd_pat_"));
    assert_eq!(full["apiToken"]["prefix"], &full_token[..11]);
    let reader = create(
        &app,
        &agent,
        json!({ "name": "Dashboard", "readOnly": true }),
    )
    .await;
    let read_token = reader["token"].as_str().unwrap().to_string();
    // Stored hashed.
    let stored = entity::api_token::Entity::find()
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|t| t.token_hash != full_token && t.token_hash != read_token)
    );

    // The owner's access: organization A's ticket, not B's.
    let seen = ticket_ids(&app.graphql_as(&full_token, TICKETS, json!({})).await);
    assert!(seen.contains(&gid("Ticket", world.ticket_a)));
    assert!(!seen.contains(&gid("Ticket", world.ticket_b)));
    assert_eq!(
        ticket_ids(&app.graphql_as(&read_token, TICKETS, json!({})).await),
        seen
    );
    // The full token changes things; the read-only one changes nothing.
    app.comment_as(
        &full_token,
        &gid("Ticket", world.ticket_a),
        "From the CRM.",
        false,
    )
    .await;
    let comments = || async {
        entity::comment::Entity::find()
            .filter(entity::comment::Column::TicketId.eq(world.ticket_a))
            .count(app.db())
            .await
            .unwrap()
    };
    let before = comments().await;
    let refused = app
        .graphql_as(
            &read_token,
            "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }",
            json!({ "input": { "ticketId": gid("Ticket", world.ticket_a), "body": "Nope." } }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    assert_eq!(comments().await, before);
    // A token makes no tokens.
    let nested = app
        .graphql_as(
            &full_token,
            CREATE,
            json!({ "input": { "name": "Another" } }),
        )
        .await;
    assert_eq!(error_code(&nested), "FORBIDDEN", "{nested}");
    // Listed for the owner, with their last use; a past expiry is bad input.
    let listed = app
        .graphql_as(
            &agent,
            "{ me { apiTokens { nodes { name readOnly lastUsedAt } } } }",
            json!({}),
        )
        .await;
    let tokens = listed["data"]["me"]["apiTokens"]["nodes"]
        .as_array()
        .unwrap();
    assert_eq!(tokens.len(), 2, "{listed}");
    assert!(
        tokens.iter().all(|t| t["lastUsedAt"].is_string()),
        "{listed}"
    );
    let past = create(
        &app,
        &agent,
        json!({ "name": "Late", "expiresAt": "2020-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(
        past["userErrors"],
        json!([{ "field": "expiresAt", "code": "BAD_USER_INPUT" }])
    );

    // Revoked: refused; someone else may not revoke it.
    const REVOKE: &str =
        "mutation($input: ApiTokenRevokeInput!) { apiTokenRevoke(input: $input) { success } }";
    let other = app.login(&email_of("agent_b"), PASSWORD).await;
    let stranger = app
        .graphql_as(
            &other,
            REVOKE,
            json!({ "input": { "id": full["apiToken"]["id"] } }),
        )
        .await;
    assert_eq!(error_code(&stranger), "NOT_FOUND");
    let revoked = app
        .graphql_as(
            &agent,
            REVOKE,
            json!({ "input": { "id": full["apiToken"]["id"] } }),
        )
        .await;
    assert_eq!(revoked["data"]["apiTokenRevoke"]["success"], true);
    let me = app
        .graphql_as(&full_token, "{ me { id } }", json!({}))
        .await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");

    // Expired: refused.
    let soon = create(
        &app,
        &agent,
        json!({ "name": "Short-lived", "expiresAt": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339() }),
    )
    .await;
    let soon_token = soon["token"].as_str().unwrap().to_string();
    assert!(
        app.graphql_as(&soon_token, "{ me { id } }", json!({}))
            .await["data"]["me"]["id"]
            .is_string()
    );
    let row = entity::api_token::Entity::find()
        .filter(entity::api_token::Column::Name.eq("Short-lived"))
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    let mut expired: entity::api_token::ActiveModel = row.into();
    expired.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    expired.update(app.db()).await.unwrap();
    let me = app
        .graphql_as(&soon_token, "{ me { id } }", json!({}))
        .await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");

    // Audited.
    let actions: Vec<String> = entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.starts_with("api_token."))
        .all(app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "api_token.created").count(),
        3
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "api_token.revoked").count(),
        1
    );
}

#[tokio::test]
async fn a_subscription_works_with_a_read_only_token() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let reader = create(
        &app,
        &agent,
        json!({ "name": "Wallboard", "readOnly": true }),
    )
    .await;
    let token = reader["token"].as_str().unwrap().to_string();
    let mut socket = connected(&app.address, &token).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { ticketEvents(filter: { kinds: [COMMENT_CREATED] }) { comment { body } } }" } }),
    )
    .await;
    listening(&app.address, 1).await;
    app.comment_as(
        &agent,
        &gid("Ticket", world.ticket_a),
        "Seen on the wall.",
        false,
    )
    .await;
    let message = next(&mut socket).await;
    assert_eq!(
        message["payload"]["data"]["ticketEvents"]["comment"]["body"], "Seen on the wall.",
        "{message}"
    );
}
