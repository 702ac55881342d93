//! The audit log administrators read: administrative changes with their old and new values.

use serde_json::{Value, json};

use crate::helpers::*;

const LOG: &str = "query($filter: AuditLogFilter, $first: Int, $after: String) { auditLog(filter: $filter, first: $first, after: $after) { nodes { action description user { id } actor { id } oldValues newValues createdAt } pageInfo { hasNextPage endCursor } } }";

async fn log(app: &TestApp, token: &str, filter: Value) -> Vec<Value> {
    let answer = app
        .graphql_as(token, LOG, json!({ "filter": filter, "first": 100 }))
        .await;
    answer["data"]["auditLog"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .clone()
}

async fn ok(app: &TestApp, token: &str, query: &str, variables: Value, field: &str) -> Value {
    let answer = app.graphql_as(token, query, variables).await;
    assert_eq!(
        answer["data"][field]["userErrors"],
        json!([]),
        "{field}: {answer}"
    );
    answer["data"][field].clone()
}

#[tokio::test]
async fn administrative_changes_are_in_the_audit_log_with_old_and_new_values_for_admins_only() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let admin_id = gid("User", world.admin);

    let created = ok(
        &app,
        &admin,
        "mutation($input: UserCreateInput!) { userCreate(input: $input) { user { id } userErrors { field } } }",
        json!({ "input": { "email": "newcomer@world.example", "name": "Newcomer", "role": "AGENT",
            "password": "a long enough password", "organizationIds": [gid("Organization", world.org_a)] } }),
        "userCreate",
    )
    .await;
    let newcomer = created["user"]["id"].clone();
    const UPDATE: &str = "mutation($input: UserUpdateInput!) { userUpdate(input: $input) { user { id } userErrors { field } } }";
    ok(
        &app,
        &admin,
        UPDATE,
        json!({ "input": { "id": newcomer, "role": "SUPERAGENT" } }),
        "userUpdate",
    )
    .await;
    ok(
        &app,
        &admin,
        UPDATE,
        json!({ "input": { "id": newcomer, "locked": true, "lockReason": "left the company" } }),
        "userUpdate",
    )
    .await;
    ok(
        &app,
        &admin,
        UPDATE,
        json!({ "input": { "id": newcomer, "locked": false } }),
        "userUpdate",
    )
    .await;
    ok(
        &app,
        &admin,
        UPDATE,
        json!({ "input": { "id": newcomer, "approved": false } }),
        "userUpdate",
    )
    .await;
    let org = ok(
        &app,
        &admin,
        "mutation($input: OrganizationCreateInput!) { organizationCreate(input: $input) { organization { id } userErrors { field } } }",
        json!({ "input": { "name": "Org C" } }),
        "organizationCreate",
    )
    .await["organization"]["id"]
        .clone();
    ok(
        &app,
        &admin,
        "mutation($input: OrganizationUpdateInput!) { organizationUpdate(input: $input) { organization { id } userErrors { field } } }",
        json!({ "input": { "id": org, "name": "Org C, renamed", "phone": "+49 30 1234" } }),
        "organizationUpdate",
    )
    .await;
    let membership = json!({ "input": { "organizationId": org, "userId": newcomer } });
    ok(&app, &admin, "mutation($input: OrganizationMemberAddInput!) { organizationMemberAdd(input: $input) { organization { id } userErrors { field } } }", membership.clone(), "organizationMemberAdd").await;
    ok(&app, &admin, "mutation($input: OrganizationMemberRemoveInput!) { organizationMemberRemove(input: $input) { organization { id } userErrors { field } } }", membership, "organizationMemberRemove").await;

    let low = policy_id(&app, &admin, "LOW").await;
    ok(
        &app,
        &admin,
        "mutation($input: SlaPolicyUpdateInput!) { slaPolicyUpdate(input: $input) { policy { id } userErrors { field } } }",
        json!({ "input": { "id": low, "resolutionMinutes": 5000 } }),
        "slaPolicyUpdate",
    )
    .await;

    let hook = ok(
        &app,
        &admin,
        "mutation($input: WebhookCreateInput!) { webhookCreate(input: $input) { webhook { id } userErrors { field } } }",
        json!({ "input": { "url": "http://127.0.0.1:9/hook", "events": ["COMMENT_CREATED"] } }),
        "webhookCreate",
    )
    .await["webhook"]["id"]
        .clone();
    app.graphql_as(
        &admin,
        "mutation($input: WebhookUpdateInput!) { webhookUpdate(input: $input) { webhook { id } } }",
        json!({ "input": { "id": hook, "events": ["TICKET_CREATED"] } }),
    )
    .await;
    app.graphql_as(
        &admin,
        "mutation($id: ID!) { webhookDelete(input: { id: $id }) { deletedId } }",
        json!({ "id": hook }),
    )
    .await;

    let entries = log(&app, &admin, json!({})).await;
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {entries:#?}"))
            .clone()
    };
    let role = find("user.role_changed");
    assert_eq!(role["oldValues"], json!({ "role": "agent" }));
    assert_eq!(role["newValues"], json!({ "role": "superagent" }));
    assert_eq!(role["actor"]["id"], admin_id);
    assert_eq!(role["user"]["id"], newcomer);
    let user_created = find("user.created");
    assert_eq!(user_created["newValues"]["email"], "newcomer@world.example");
    assert_eq!(user_created["newValues"]["role"], "agent");
    let locked = find("user.locked");
    assert_eq!(
        (locked["oldValues"].clone(), locked["newValues"].clone()),
        (
            json!({ "locked": false, "lockReason": null }),
            json!({ "locked": true, "lockReason": "left the company" })
        )
    );
    assert_eq!(find("user.unlocked")["newValues"]["locked"], false);
    assert_eq!(
        find("user.unapproved")["oldValues"],
        json!({ "approved": true })
    );
    assert_eq!(find("organization.created")["newValues"]["name"], "Org C");
    let renamed = find("organization.updated");
    assert_eq!(
        renamed["oldValues"],
        json!({ "name": "Org C", "phone": null }),
        "only the changed fields"
    );
    assert_eq!(
        renamed["newValues"],
        json!({ "name": "Org C, renamed", "phone": "+49 30 1234" })
    );
    assert_eq!(
        find("membership.granted")["newValues"],
        json!({ "organizationId": uuid_of(&org).to_string(), "userId": uuid_of(&newcomer).to_string() })
    );
    let revoked = find("membership.revoked");
    assert_eq!(
        revoked["oldValues"],
        json!({ "organizationId": uuid_of(&org).to_string(), "userId": uuid_of(&newcomer).to_string() })
    );
    assert_eq!(
        revoked["newValues"],
        json!({ "organizationId": null, "userId": null })
    );

    let policy = find("sla_policy.updated");
    assert_eq!(
        (policy["oldValues"].clone(), policy["newValues"].clone()),
        (
            json!({ "resolutionMinutes": 168 * 60 }),
            json!({ "resolutionMinutes": 5000 })
        )
    );
    assert_eq!(policy["actor"]["id"], admin_id);

    assert_eq!(
        find("webhook.created")["newValues"]["url"],
        "http://127.0.0.1:9/hook"
    );
    let hook_changed = find("webhook.updated");
    assert_eq!(
        (
            hook_changed["oldValues"].clone(),
            hook_changed["newValues"].clone()
        ),
        (
            json!({ "events": ["comment.created"] }),
            json!({ "events": ["ticket.created"] })
        )
    );
    assert_eq!(
        find("webhook.deleted")["oldValues"]["url"],
        "http://127.0.0.1:9/hook"
    );
    assert!(
        entries.iter().all(|e| !e.to_string().contains("whsec_")),
        "no secret in the log"
    );

    // Filters: a kind of action, an account, a time window.
    let users = log(&app, &admin, json!({ "action": "user." })).await;
    assert!(!users.is_empty());
    assert!(
        users
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("user."))
    );
    let about = log(&app, &admin, json!({ "userId": newcomer })).await;
    assert!(
        about
            .iter()
            .all(|e| e["user"]["id"] == newcomer || e["actor"]["id"] == newcomer)
    );
    assert!(about.len() >= 6, "{about:#?}");
    let later = log(
        &app,
        &admin,
        json!({ "from": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339() }),
    )
    .await;
    assert!(later.is_empty());
    // Pages, newest first, without overlap.
    let first = app
        .graphql_as(
            &admin,
            LOG,
            json!({ "filter": { "action": "user." }, "first": 2 }),
        )
        .await;
    let page = &first["data"]["auditLog"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let second = app
        .graphql_as(
            &admin,
            LOG,
            json!({ "filter": { "action": "user." }, "first": 2, "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    let (a, b) = (&page["nodes"], &second["data"]["auditLog"]["nodes"]);
    assert!(a[1]["createdAt"].as_str() >= b[0]["createdAt"].as_str());
    assert_ne!(a[1], b[0]);

    // Administrators only.
    for who in ["superagent", "agent_a", "client_a"] {
        let token = app.login(&email_of(who), PASSWORD).await;
        let refused = app.graphql_as(&token, LOG, json!({ "first": 10 })).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{who}: {refused}");
    }
}
