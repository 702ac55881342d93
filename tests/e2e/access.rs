//! Who may see and do what, through the API.

use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, World, email_of, error_code, gid};

async fn tokens(app: &TestApp) -> impl Fn(&str) -> String + '_ {
    let mut tokens = std::collections::HashMap::new();
    for name in [
        "admin",
        "superagent",
        "agent_a",
        "agent_b",
        "client_a",
        "client_a2",
        "client_b",
    ] {
        tokens.insert(name.to_string(), app.login(&email_of(name), PASSWORD).await);
    }
    move |name: &str| tokens[name].clone()
}

fn titles(response: &Value) -> Vec<String> {
    let mut titles: Vec<String> = response["data"]["tickets"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no tickets in {response}"))
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_string())
        .collect();
    titles.sort();
    titles
}

#[tokio::test]
async fn each_role_lists_exactly_the_tickets_it_may_read() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = tokens(&app).await;
    // agent_b is assigned a ticket of A (written directly: the API only assigns agents within
    // the ticket's organization, but memberships change after assignment). Assignment widens
    // an agent's reach.
    let assigned = service::ticket::create(
        app.db(),
        Some(world.client_a2),
        crate::helpers::new_ticket(world.org_a, world.client_a2, "Assigned across"),
    )
    .await
    .unwrap();
    entity::ticket::Entity::update(entity::ticket::ActiveModel {
        id: sea_orm::ActiveValue::Set(assigned.id),
        assignee_id: sea_orm::ActiveValue::Set(Some(world.agent_b)),
        ..Default::default()
    })
    .exec(app.db())
    .await
    .unwrap();

    let all = vec!["Assigned across", "Ticket of A", "Ticket of B"];
    let expected: [(&str, Vec<&str>); 7] = [
        ("admin", all.clone()),
        ("superagent", all.clone()),
        ("agent_a", vec!["Assigned across", "Ticket of A"]),
        ("agent_b", vec!["Assigned across", "Ticket of B"]),
        ("client_a", vec!["Ticket of A"]),
        ("client_a2", vec!["Assigned across"]),
        ("client_b", vec!["Ticket of B"]),
    ];
    for (who, visible) in expected {
        let response = app
            .graphql_as(
                &token(who),
                "{ tickets { totalCount nodes { title } } }",
                json!({}),
            )
            .await;
        assert_eq!(titles(&response), visible, "{who}");
        assert_eq!(
            response["data"]["tickets"]["totalCount"],
            visible.len(),
            "{who}"
        );
    }
}

#[tokio::test]
async fn a_ticket_out_of_reach_does_not_exist_and_one_in_reach_does() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = tokens(&app).await;
    let ticket_a = gid("Ticket", world.ticket_a);
    let query = "query($id: ID!) { ticket(id: $id) { title } node(id: $id) { id } }";
    for (who, visible) in [
        ("admin", true),
        ("superagent", true),
        ("agent_a", true),
        ("agent_b", false),
        ("client_a", true),
        ("client_a2", false),
        ("client_b", false),
    ] {
        let response = app
            .graphql_as(&token(who), query, json!({ "id": ticket_a }))
            .await;
        assert!(response.get("errors").is_none(), "{who}: {response}");
        assert_eq!(
            response["data"]["ticket"].is_object(),
            visible,
            "{who}: {response}"
        );
        assert_eq!(
            response["data"]["node"].is_object(),
            visible,
            "{who}: {response}"
        );
    }
    // And the other way round: B's ticket is B's, down to its organization.
    let ticket_b = app
        .graphql_as(
            &token("client_b"),
            "query($id: ID!) { ticket(id: $id) { organization { id } requester { id } } }",
            json!({ "id": gid("Ticket", world.ticket_b) }),
        )
        .await;
    assert_eq!(
        ticket_b["data"]["ticket"]["organization"]["id"],
        gid("Organization", world.org_b)
    );
    assert_eq!(
        ticket_b["data"]["ticket"]["requester"]["id"],
        gid("User", world.client_b)
    );
    let by_number = app
        .graphql_as(
            &token("client_b"),
            "{ ticket(number: \"HD-1001\") { title } }",
            json!({}),
        )
        .await;
    assert!(by_number["data"]["ticket"].is_null(), "{by_number}");
}

#[tokio::test]
async fn clients_never_see_internal_comments_in_lists_or_counts() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = tokens(&app).await;
    let create = "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } userErrors { code } } }";
    for (body, internal) in [("Visible reply", false), ("Internal: check the logs", true)] {
        let response = app
            .graphql_as(
                &token("agent_a"),
                create,
                json!({ "input": { "ticketId": gid("Ticket", world.ticket_a), "body": body, "internal": internal } }),
            )
            .await;
        assert!(
            response["data"]["commentCreate"]["comment"].is_object(),
            "{response}"
        );
    }
    let read =
        "query($id: ID!) { ticket(id: $id) { commentCount comments { nodes { body internal } } } }";
    let as_client = app
        .graphql_as(
            &token("client_a"),
            read,
            json!({ "id": gid("Ticket", world.ticket_a) }),
        )
        .await;
    assert_eq!(
        as_client["data"]["ticket"]["commentCount"], 1,
        "{as_client}"
    );
    let bodies: Vec<&str> = as_client["data"]["ticket"]["comments"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec!["Visible reply"]);
    // Nor through the list, where the comment window is loaded in one batch.
    let list = app
        .graphql_as(
            &token("client_a"),
            "{ tickets { nodes { commentCount comments(first: 5) { nodes { body } } } } }",
            json!({}),
        )
        .await;
    assert!(
        !list.to_string().contains("Internal: check the logs"),
        "{list}"
    );
    let as_agent = app
        .graphql_as(
            &token("agent_a"),
            read,
            json!({ "id": gid("Ticket", world.ticket_a) }),
        )
        .await;
    assert_eq!(as_agent["data"]["ticket"]["commentCount"], 2, "{as_agent}");
}

#[tokio::test]
async fn readable_but_not_changeable_is_forbidden_and_unreadable_is_not_found() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = tokens(&app).await;
    let update = "mutation($id: ID!) { ticketUpdate(input: { id: $id, title: \"Changed\" }) { ticket { title } userErrors { code } } }";
    let assign = "mutation($id: ID!, $to: ID) { ticketAssign(input: { id: $id, assigneeId: $to }) { ticket { id } userErrors { code field } } }";
    let delete = "mutation($id: ID!) { ticketDelete(input: { id: $id }) { ticket { id } userErrors { code } } }";
    let internal = "mutation($id: ID!) { commentCreate(input: { ticketId: $id, body: \"psst\", internal: true }) { comment { id } } }";
    let a = gid("Ticket", world.ticket_a);
    let agent_a = gid("User", world.agent_a);
    let cases: [(&str, &str, Value, &str); 8] = [
        ("client_a", update, json!({ "id": a }), "FORBIDDEN"),
        ("client_b", update, json!({ "id": a }), "NOT_FOUND"),
        ("agent_b", update, json!({ "id": a }), "NOT_FOUND"),
        (
            "client_a",
            assign,
            json!({ "id": a, "to": agent_a }),
            "FORBIDDEN",
        ),
        (
            "agent_b",
            assign,
            json!({ "id": a, "to": agent_a }),
            "NOT_FOUND",
        ),
        ("superagent", delete, json!({ "id": a }), "FORBIDDEN"),
        ("agent_a", delete, json!({ "id": a }), "FORBIDDEN"),
        ("client_a", internal, json!({ "id": a }), "FORBIDDEN"),
    ];
    for (who, mutation, variables, code) in cases {
        let response = app.graphql_as(&token(who), mutation, variables).await;
        assert_eq!(error_code(&response), code, "{who}: {response}");
    }
    let ticket = entity::ticket::Entity::find_by_id(world.ticket_a)
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ticket.title, "Ticket of A",
        "a refused change changed the ticket"
    );
    assert_eq!(ticket.assignee_id, None);

    for (who, mutation, variables) in [
        ("agent_a", update, json!({ "id": a })),
        ("agent_a", assign, json!({ "id": a, "to": agent_a })),
        ("admin", delete, json!({ "id": a })),
    ] {
        let response = app.graphql_as(&token(who), mutation, variables).await;
        assert!(response.get("errors").is_none(), "{who}: {response}");
    }
    let gone = app
        .graphql_as(
            &token("admin"),
            "query($id: ID!) { ticket(id: $id) { id } }",
            json!({ "id": a }),
        )
        .await;
    assert!(
        gone["data"]["ticket"].is_null(),
        "a deleted ticket is hidden: {gone}"
    );
}

#[tokio::test]
async fn emails_of_other_people_are_hidden_from_clients() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = tokens(&app).await;
    let query = "query($id: ID!) { node(id: $id) { ... on User { name email } } }";
    let other = gid("User", world.client_a2);
    let as_client = app
        .graphql_as(&token("client_a"), query, json!({ "id": other }))
        .await;
    assert!(as_client["data"]["node"]["email"].is_null(), "{as_client}");
    let own = app
        .graphql_as(
            &token("client_a"),
            query,
            json!({ "id": gid("User", world.client_a) }),
        )
        .await;
    assert_eq!(own["data"]["node"]["email"], email_of("client_a"));
    let as_staff = app
        .graphql_as(&token("agent_a"), query, json!({ "id": other }))
        .await;
    assert_eq!(as_staff["data"]["node"]["email"], email_of("client_a2"));
}

#[tokio::test]
async fn node_applies_the_user_rule_and_internal_notes_leave_no_trace_in_updated_at() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let token = tokens(&app).await;
    let query = "query($id: ID!) { node(id: $id) { id } }";
    let other = app
        .graphql_as(
            &token("client_a"),
            query,
            json!({ "id": gid("User", world.client_a2) }),
        )
        .await;
    assert!(other["data"]["node"].is_null(), "{other}");
    let own = app
        .graphql_as(
            &token("client_a"),
            query,
            json!({ "id": gid("User", world.client_a) }),
        )
        .await;
    assert!(own["data"]["node"].is_object(), "{own}");

    let read = "query($id: ID!) { ticket(id: $id) { updatedAt } }";
    let id = json!({ "id": gid("Ticket", world.ticket_a) });
    let before = app.graphql_as(&token("client_a"), read, id.clone()).await;
    let agent = crate::helpers::actor_of(app.db(), world.agent_a).await;
    service::comment::create_as(
        app.db(),
        &agent,
        world.ticket_a,
        "Internal: VIP customer",
        true,
    )
    .await
    .unwrap();
    let after = app.graphql_as(&token("client_a"), read, id).await;
    assert_eq!(
        before["data"]["ticket"]["updatedAt"],
        after["data"]["ticket"]["updatedAt"]
    );
}

const EARLY_SENT: &str = "helpdesk_graphql_early_queries_total{outcome=\"sent\"}";
const EARLY_DROPPED: &str = "helpdesk_graphql_early_queries_total{outcome=\"dropped\"}";

/// A query may run while its token is checked, as the account the token named on its last
/// request; its answer is sent only when the check finds that same account. A membership
/// removed, or the sessions ended, between two requests of one token show in the second
/// answer: the early one is dropped and the query runs as the account is now.
#[tokio::test]
async fn a_query_run_while_its_token_is_checked_answers_as_the_account_is_now() {
    answers_as_the_account_is_now("{ tickets(first: 10) { nodes { id title } } }").await;
}

/// The same for a page whose tickets' requesters and organizations are read, on PostgreSQL,
/// by a statement alongside the page that also reads what the token's check reads.
#[tokio::test]
async fn a_page_read_while_its_token_is_checked_answers_as_the_account_is_now() {
    answers_as_the_account_is_now(
        "{ tickets(first: 10) { nodes { id title requester { name } organization { name } } } }",
    )
    .await;
}

async fn answers_as_the_account_is_now(list: &str) {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let agent = app.login(&email_of("agent_b"), PASSWORD).await;
    let early = async || {
        (
            app.metric(EARLY_SENT).await,
            app.metric(EARLY_DROPPED).await,
        )
    };

    // The token is known from its sign-in: its requests run as the account it was issued to
    // while it is checked, and that answer is sent.
    let first = app.graphql_as(&agent, list, json!({})).await;
    assert_eq!(titles(&first), ["Ticket of B"], "{first}");
    let (sent, dropped) = early().await;
    let second = app.graphql_as(&agent, list, json!({})).await;
    assert_eq!(second, first);
    assert_eq!(early().await, (sent + 1.0, dropped));

    // Out of organization B, the agent no longer reads its ticket, on the very next request.
    let removed = app
        .graphql_as(
            &admin,
            "mutation($input: OrganizationMemberRemoveInput!) { organizationMemberRemove(input: $input) { userErrors { field } } }",
            json!({ "input": {
                "organizationId": gid("Organization", world.org_b),
                "userId": gid("User", world.agent_b),
            } }),
        )
        .await;
    assert_eq!(
        removed["data"]["organizationMemberRemove"]["userErrors"],
        json!([]),
        "{removed}"
    );
    let (sent, dropped) = early().await;
    let after = app.graphql_as(&agent, list, json!({})).await;
    assert_eq!(titles(&after), Vec::<String>::new(), "{after}");
    assert_eq!(early().await, (sent, dropped + 1.0));

    // Sessions ended (a new password): the token is refused, as it is without a guess.
    app.change_password(&agent, "a-new-password-for-agent-b")
        .await;
    let (sent, dropped) = early().await;
    let ended = app.graphql_as(&agent, list, json!({})).await;
    assert_eq!(error_code(&ended), "UNAUTHENTICATED", "{ended}");
    assert!(ended["data"].is_null(), "{ended}");
    assert_eq!(early().await, (sent, dropped + 1.0));
}

const STATEMENTS: &str = "helpdesk_db_statements_total";

/// On PostgreSQL, a page read while its token is checked costs the page's statement and the
/// one alongside it, which reads what the check reads: the check runs none of its own. A
/// sign-in ended between two requests shows in that statement's rows: the next request is
/// refused, as it is without a guess.
#[tokio::test]
async fn a_check_read_alongside_a_page_refuses_a_sign_in_that_ended() {
    let app = TestApp::spawn().await;
    World::build(app.db()).await;
    let signed = app
        .graphql(
            "mutation($input: AuthLoginInput!) { authLogin(input: $input) { accessToken refreshToken } }",
            json!({ "input": { "email": email_of("agent_b"), "password": PASSWORD } }),
        )
        .await;
    let token = signed["data"]["authLogin"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{signed}"))
        .to_string();
    let refresh = signed["data"]["authLogin"]["refreshToken"].clone();
    let page = "{ tickets(first: 10) { nodes { title requester { name } } } }";
    let early = async || {
        (
            app.metric(EARLY_SENT).await,
            app.metric(EARLY_DROPPED).await,
        )
    };

    let (sent, dropped) = early().await;
    let before = app.metric(STATEMENTS).await;
    let first = app.graphql_as(&token, page, json!({})).await;
    let statements = app.metric(STATEMENTS).await - before;
    assert_eq!(titles(&first), ["Ticket of B"], "{first}");
    assert!(
        first["data"]["tickets"]["nodes"][0]["requester"]["name"].is_string(),
        "{first}"
    );
    // Known from its sign-in, the token's first query already ran while it was checked.
    assert_eq!(early().await, (sent + 1.0, dropped));
    if app.database.is_postgres() {
        assert_eq!(
            statements, 2.0,
            "the check read a statement of its own: {first}"
        );
    }

    let out = app
        .graphql_as(
            &token,
            "mutation($t: String!) { authLogout(input: { refreshToken: $t }) { success } }",
            json!({ "t": refresh }),
        )
        .await;
    assert_eq!(out["data"]["authLogout"]["success"], true, "{out}");
    let (sent, dropped) = early().await;
    let ended = app.graphql_as(&token, page, json!({})).await;
    assert_eq!(error_code(&ended), "UNAUTHENTICATED", "{ended}");
    assert!(ended["data"].is_null(), "{ended}");
    assert_eq!(early().await, (sent, dropped + 1.0));
}
