//! Organizations and accounts through the API.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, World, email_of, error_code, gid};

#[tokio::test]
async fn administrators_manage_organizations_and_others_may_not() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let create = "mutation($name: String!) { organizationCreate(input: { name: $name, email: \"Help@Initech.example\" }) { organization { id name email } userErrors { field code } } }";

    let created = app
        .graphql_as(&admin, create, json!({ "name": "Initech" }))
        .await;
    assert_eq!(
        created["data"]["organizationCreate"]["organization"]["email"], "help@initech.example",
        "{created}"
    );
    let duplicate = app
        .graphql_as(&admin, create, json!({ "name": "INITECH" }))
        .await;
    assert_eq!(
        duplicate["data"]["organizationCreate"]["userErrors"],
        json!([{ "field": "name", "code": "CONFLICT" }])
    );
    let refused = app
        .graphql_as(&agent, create, json!({ "name": "Agents Inc" }))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");

    let update = "mutation($id: ID!) { organizationUpdate(input: { id: $id, phone: \"+1 555 0100\", description: null }) { organization { phone description } } }";
    let updated = app
        .graphql_as(
            &admin,
            update,
            json!({ "id": gid("Organization", world.org_a) }),
        )
        .await;
    assert_eq!(
        updated["data"]["organizationUpdate"]["organization"]["phone"], "+1 555 0100",
        "{updated}"
    );
}

#[tokio::test]
async fn members_are_managed_by_superagents_and_shown_by_role() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let superagent = app.login(&email_of("superagent"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let add = "mutation($org: ID!, $user: ID!) { organizationMemberAdd(input: { organizationId: $org, userId: $user }) { organization { members { nodes { name } } } userErrors { field code } } }";
    let vars =
        json!({ "org": gid("Organization", world.org_a), "user": gid("User", world.agent_b) });
    let added = app.graphql_as(&superagent, add, vars.clone()).await;
    let names: Vec<&str> =
        added["data"]["organizationMemberAdd"]["organization"]["members"]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{added}"))
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
    assert_eq!(names, vec!["agent_a", "agent_b", "client_a", "client_a2"]);
    let again = app.graphql_as(&superagent, add, vars).await;
    assert_eq!(
        again["data"]["organizationMemberAdd"]["userErrors"][0]["code"], "CONFLICT",
        "{again}"
    );
    let refused = app
        .graphql_as(
            &agent,
            add,
            json!({ "org": gid("Organization", world.org_a), "user": gid("User", world.client_b) }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");

    // A client sees the staff of their organization and themselves, not the other clients.
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let view = app
        .graphql_as(
            &client,
            "query($id: ID!) { organization(id: $id) { members { nodes { name } } } }",
            json!({ "id": gid("Organization", world.org_a) }),
        )
        .await;
    let names: Vec<&str> = view["data"]["organization"]["members"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{view}"))
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["agent_a", "agent_b", "client_a"]);
    let other = app
        .graphql_as(
            &client,
            "query($id: ID!) { organization(id: $id) { name } }",
            json!({ "id": gid("Organization", world.org_b) }),
        )
        .await;
    assert!(other["data"]["organization"].is_null(), "{other}");
    let listed = app
        .graphql_as(&client, "{ organizations { nodes { name } } }", json!({}))
        .await;
    assert_eq!(
        listed["data"]["organizations"]["nodes"],
        json!([{ "name": "Org A" }])
    );
    let users = app
        .graphql_as(&client, "{ users { nodes { name } } }", json!({}))
        .await;
    assert_eq!(error_code(&users), "FORBIDDEN");
}

#[tokio::test]
async fn locking_an_account_ends_its_sessions_and_unlocking_restores_sign_in() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let session = app
        .graphql(
            "mutation($e: String!, $p: String!) { authLogin(input: { email: $e, password: $p }) { refreshToken } }",
            json!({ "e": email_of("client_a"), "p": PASSWORD }),
        )
        .await;
    let refresh = session["data"]["authLogin"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_string();
    let lock = "mutation($id: ID!, $locked: Boolean!) { userUpdate(input: { id: $id, locked: $locked, lockReason: \"abuse\" }) { user { isLocked } userErrors { code } } }";
    let id = gid("User", world.client_a);
    let locked = app
        .graphql_as(&admin, lock, json!({ "id": id, "locked": true }))
        .await;
    assert_eq!(
        locked["data"]["userUpdate"]["user"]["isLocked"], true,
        "{locked}"
    );

    let refreshed = app
        .graphql(
            "mutation($t: String!) { authRefresh(input: { refreshToken: $t }) { accessToken } }",
            json!({ "t": refresh }),
        )
        .await;
    assert_eq!(error_code(&refreshed), "UNAUTHENTICATED", "{refreshed}");
    let login = app
        .graphql(
            "mutation($e: String!, $p: String!) { authLogin(input: { email: $e, password: $p }) { accessToken } }",
            json!({ "e": email_of("client_a"), "p": PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED");

    app.graphql_as(&admin, lock, json!({ "id": id, "locked": false }))
        .await;
    app.login(&email_of("client_a"), PASSWORD).await;

    // Only administrators lock.
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let refused = app
        .graphql_as(&agent, lock, json!({ "id": id, "locked": true }))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

#[tokio::test]
async fn changing_a_password_needs_the_current_one_and_ends_old_sessions() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let token = app.login(&email_of("client_a"), PASSWORD).await;
    let change = "mutation($current: String!, $new: String!) { userPasswordChange(input: { currentPassword: $current, newPassword: $new }) { success userErrors { field code } } }";
    let wrong = app
        .graphql_as(
            &token,
            change,
            json!({ "current": "nope", "new": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(
        wrong["data"]["userPasswordChange"]["userErrors"],
        json!([{ "field": "currentPassword", "code": "BAD_USER_INPUT" }])
    );
    let short = app
        .graphql_as(
            &token,
            change,
            json!({ "current": PASSWORD, "new": "short" }),
        )
        .await;
    assert_eq!(
        short["data"]["userPasswordChange"]["userErrors"][0]["field"],
        "newPassword"
    );
    let done = app
        .graphql_as(
            &token,
            change,
            json!({ "current": PASSWORD, "new": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(
        done["data"]["userPasswordChange"]["success"], true,
        "{done}"
    );
    app.login(&email_of("client_a"), "a brand new passphrase")
        .await;
}

#[tokio::test]
async fn administrators_create_accounts_that_can_sign_in() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let create = "mutation($input: UserCreateInput!) { userCreate(input: $input) { user { email role organizations { nodes { name } } } userErrors { field code } } }";
    let input = json!({ "email": "New.Agent@World.example", "name": "New Agent", "role": "AGENT", "password": "long enough secret", "organizationIds": [gid("Organization", world.org_b)] });
    let created = app
        .graphql_as(&admin, create, json!({ "input": input }))
        .await;
    assert_eq!(
        created["data"]["userCreate"]["user"],
        json!({ "email": "new.agent@world.example", "role": "AGENT", "organizations": { "nodes": [{ "name": "Org B" }] } }),
        "{created}"
    );
    app.login("new.agent@world.example", "long enough secret")
        .await;
    let duplicate = app
        .graphql_as(&admin, create, json!({ "input": input }))
        .await;
    assert_eq!(
        duplicate["data"]["userCreate"]["userErrors"],
        json!([{ "field": "email", "code": "CONFLICT" }])
    );
    let listed = app
        .graphql_as(
            &admin,
            "{ users(filter: { query: \"new\" }) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"]["users"]["nodes"],
        json!([{ "name": "New Agent" }])
    );
}

#[tokio::test]
async fn organizations_and_users_page_both_ways_and_count() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let names = |response: &serde_json::Value, list: &str| -> Vec<String> {
        response["data"][list]["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{response}"))
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect()
    };
    let first = app
        .graphql_as(
            &admin,
            "{ users(first: 3) { totalCount nodes { name } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(first["data"]["users"]["totalCount"], 7, "{first}");
    assert_eq!(names(&first, "users"), vec!["admin", "agent_a", "agent_b"]);
    let cursor = first["data"]["users"]["pageInfo"]["endCursor"].clone();
    let back = app
        .graphql_as(
            &admin,
            "query($c: String) { users(last: 2, before: $c) { nodes { name } pageInfo { hasPreviousPage hasNextPage } } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(names(&back, "users"), vec!["admin", "agent_a"], "{back}");
    assert_eq!(back["data"]["users"]["pageInfo"]["hasNextPage"], true);
    let last = app
        .graphql_as(
            &admin,
            "{ organizations(last: 1) { totalCount nodes { name } pageInfo { hasPreviousPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(names(&last, "organizations"), vec!["Org B"], "{last}");
    assert_eq!(last["data"]["organizations"]["totalCount"], 2);
    assert_eq!(
        last["data"]["organizations"]["pageInfo"]["hasPreviousPage"],
        true
    );
}
