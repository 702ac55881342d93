//! Notices to people in the app: who hears of what, the inbox, read marks and preferences.

use serde_json::{Value, json};

use crate::helpers::*;

const INBOX: &str = "query($unread: Boolean!) { me { notifications(first: 50, unreadOnly: $unread) { unreadCount nodes { id kind title body read ticket { id } } pageInfo { hasNextPage endCursor } } } }";

async fn inbox(app: &TestApp, token: &str, unread: bool) -> Value {
    let answer = app
        .graphql_as(token, INBOX, json!({ "unread": unread }))
        .await;
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["me"]["notifications"].clone()
}

fn kinds(inbox: &Value) -> Vec<String> {
    inbox["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_string())
        .collect()
}

async fn assign(app: &TestApp, token: &str, ticket: &str, to: uuid::Uuid) {
    let answer = app
        .graphql_as(
            token,
            "mutation($input: TicketAssignInput!) { ticketAssign(input: $input) { userErrors { message } } }",
            json!({ "input": { "id": ticket, "assigneeId": gid("User", to) } }),
        )
        .await;
    assert_eq!(
        answer["data"]["ticketAssign"]["userErrors"],
        json!([]),
        "{answer}"
    );
}

#[tokio::test]
async fn replies_assignments_and_new_tickets_reach_the_right_people_and_never_the_actor() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    app.published().await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let agent_b = app.login(&email_of("agent_b"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    // The two tickets of the world were new and unassigned: their organizations' staff heard.
    assert_eq!(kinds(&inbox(&app, &agent, false).await), ["NEW_TICKET"]);
    assert_eq!(kinds(&inbox(&app, &agent_b, false).await), ["NEW_TICKET"]);
    assert_eq!(
        kinds(&inbox(&app, &client, false).await),
        Vec::<String>::new()
    );

    // A public reply by staff reaches the requester, not its author; an internal note reaches
    // no client.
    app.comment_as(&agent, &ticket, "We are looking into it.", false)
        .await;
    app.comment_as(&agent, &ticket, "Internal: call their IT.", true)
        .await;
    app.published().await;
    let client_inbox = inbox(&app, &client, false).await;
    assert_eq!(kinds(&client_inbox), ["REPLY"], "{client_inbox}");
    let notice = &client_inbox["nodes"][0];
    assert!(
        notice["title"].as_str().unwrap().starts_with("[HD-"),
        "{notice}"
    );
    assert_eq!(notice["body"], "We are looking into it.");
    assert_eq!(notice["ticket"]["id"], ticket.as_str());
    assert!(!client_inbox.to_string().contains("call their IT"));
    assert_eq!(client_inbox["unreadCount"], 1);
    assert_eq!(kinds(&inbox(&app, &agent, false).await), ["NEW_TICKET"]);

    // Assigning oneself tells no one; the requester's reply then reaches the assignee.
    assign(&app, &agent, &ticket, world.agent_a).await;
    app.comment_as(
        &client,
        &ticket,
        "Thanks, it is the printer on floor 2.",
        false,
    )
    .await;
    app.published().await;
    assert_eq!(
        kinds(&inbox(&app, &agent, false).await),
        ["REQUESTER_REPLY", "NEW_TICKET"]
    );
    assert_eq!(kinds(&inbox(&app, &client, false).await), ["REPLY"]);
    // Assigned by someone else: the assignee hears of it.
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    assign(&app, &admin, &gid("Ticket", world.ticket_b), world.agent_b).await;
    app.published().await;
    assert_eq!(
        kinds(&inbox(&app, &agent_b, false).await),
        ["ASSIGNED", "NEW_TICKET"]
    );
    // Status changes the requester cares about.
    let resolved = app
        .graphql_as(
            &agent,
            "mutation($input: TicketTransitionInput!) { ticketTransition(input: $input) { userErrors { message } } }",
            json!({ "input": { "id": ticket, "to": "RESOLVED" } }),
        )
        .await;
    assert!(resolved["errors"].is_null(), "{resolved}");
    app.published().await;
    assert_eq!(
        kinds(&inbox(&app, &client, false).await),
        ["STATUS", "REPLY"]
    );

    // Nobody else's inbox can be read, not even by an administrator.
    let other = app
        .graphql_as(
            &admin,
            "query($id: ID!) { user(id: $id) { notifications { unreadCount } } }",
            json!({ "id": gid("User", world.client_a) }),
        )
        .await;
    assert_eq!(error_code(&other), "FORBIDDEN", "{other}");
}

#[tokio::test]
async fn the_inbox_marks_read_pages_and_follows_preferences() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    for n in 0..3 {
        app.comment_as(&agent, &ticket, &format!("Update {n}"), false)
            .await;
    }
    app.published().await;
    let all = inbox(&app, &client, false).await;
    assert_eq!(all["unreadCount"], 3);
    let bodies: Vec<&str> = all["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["Update 2", "Update 1", "Update 0"], "newest first");
    // Pages.
    let first = app
        .graphql_as(
            &client,
            "{ me { notifications(first: 2) { nodes { body } pageInfo { hasNextPage endCursor } } } }",
            json!({}),
        )
        .await;
    let page = &first["data"]["me"]["notifications"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true, "{first}");
    let rest = app
        .graphql_as(
            &client,
            "query($after: String!) { me { notifications(first: 2, after: $after) { nodes { body } pageInfo { hasNextPage } } } }",
            json!({ "after": page["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        rest["data"]["me"]["notifications"]["nodes"],
        json!([{ "body": "Update 0" }])
    );

    // Marking read: one, then the rest; another user's ids change nothing.
    let newest = all["nodes"][0]["id"].as_str().unwrap();
    let theirs = app
        .graphql_as(
            &agent,
            "mutation($ids: [ID!]!) { notificationMarkRead(input: { ids: $ids }) { marked } }",
            json!({ "ids": [newest] }),
        )
        .await;
    assert_eq!(
        theirs["data"]["notificationMarkRead"]["marked"], 0,
        "{theirs}"
    );
    let marked = app
        .graphql_as(
            &client,
            "mutation($ids: [ID!]!) { notificationMarkRead(input: { ids: $ids }) { marked unreadCount } }",
            json!({ "ids": [newest] }),
        )
        .await;
    assert_eq!(
        marked["data"]["notificationMarkRead"],
        json!({ "marked": 1, "unreadCount": 2 })
    );
    assert_eq!(
        kinds(&inbox(&app, &client, true).await).len(),
        2,
        "unread only"
    );
    let bad = app
        .graphql_as(
            &client,
            "mutation { notificationMarkRead(input: { ids: [\"nope\"] }) { userErrors { field code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        bad["data"]["notificationMarkRead"]["userErrors"],
        json!([{ "field": "ids", "code": "BAD_USER_INPUT" }])
    );
    let all_read = app
        .graphql_as(
            &client,
            "mutation { notificationMarkAllRead { marked unreadCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        all_read["data"]["notificationMarkAllRead"],
        json!({ "marked": 2, "unreadCount": 0 })
    );

    // Turning replies off in the app: the next reply is not in the inbox.
    let updated = app
        .graphql_as(
            &client,
            "mutation { notificationPreferencesUpdate(input: { preferences: [{ kind: REPLY, channel: IN_APP, enabled: false }] }) { preferences { kind channel enabled } userErrors { message } } }",
            json!({}),
        )
        .await;
    let preferences = updated["data"]["notificationPreferencesUpdate"]["preferences"]
        .as_array()
        .unwrap_or_else(|| panic!("{updated}"))
        .clone();
    assert!(
        preferences.contains(&json!({ "kind": "REPLY", "channel": "IN_APP", "enabled": false }))
    );
    assert!(preferences.contains(&json!({ "kind": "REPLY", "channel": "EMAIL", "enabled": true })));
    app.comment_as(&agent, &ticket, "Update 3", false).await;
    app.published().await;
    assert_eq!(
        inbox(&app, &client, false).await["nodes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let listed = app
        .graphql_as(
            &client,
            "{ me { notificationPreferences { kind channel enabled } } }",
            json!({}),
        )
        .await;
    assert!(
        listed["data"]["me"]["notificationPreferences"]
            .as_array()
            .unwrap()
            .contains(&json!({ "kind": "REPLY", "channel": "IN_APP", "enabled": false }))
    );
}

#[tokio::test]
async fn new_notices_are_pushed_live_following_preferences() {
    use crate::subscriptions::{connected, listening, next, send};
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    app.published().await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    let mut socket = connected(&app.address, &client).await;
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { notificationReceived { kind body ticket { id } } }" } }),
    )
    .await;
    listening(&app.address, 1).await;
    app.comment_as(&agent, &ticket, "Internal: not for the client.", true)
        .await;
    app.comment_as(&agent, &ticket, "We ordered a new part.", false)
        .await;
    let pushed = next(&mut socket).await;
    assert_eq!(
        pushed["payload"]["data"]["notificationReceived"],
        json!({ "kind": "REPLY", "body": "We ordered a new part.", "ticket": { "id": ticket } }),
        "the internal note pushed nothing: {pushed}"
    );
    // Replies turned off in the app: the next reply is not pushed, the status change is.
    let off = app
        .graphql_as(
            &client,
            "mutation { notificationPreferencesUpdate(input: { preferences: [{ kind: REPLY, channel: IN_APP, enabled: false }] }) { userErrors { message } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        off["data"]["notificationPreferencesUpdate"]["userErrors"],
        json!([])
    );
    app.comment_as(&agent, &ticket, "The part arrived.", false)
        .await;
    let resolved = app
        .graphql_as(
            &agent,
            "mutation($input: TicketTransitionInput!) { ticketTransition(input: $input) { userErrors { message } } }",
            json!({ "input": { "id": ticket, "to": "RESOLVED" } }),
        )
        .await;
    assert!(resolved["errors"].is_null(), "{resolved}");
    let pushed = next(&mut socket).await;
    assert_eq!(
        pushed["payload"]["data"]["notificationReceived"]["kind"], "STATUS",
        "{pushed}"
    );
}

#[tokio::test]
async fn sla_warnings_and_breaches_reach_the_assignee_once_each_on_the_scanners_clock() {
    use entity::enums::{NotificationKind, TicketPriority};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    // No server: the scanner runs on a clock of the test's own, and the relay is called here.
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    service::sla::install_defaults(&db).await.unwrap();
    let world = World::build(&db).await;
    let mut new = new_ticket(world.org_a, world.client_a, "Production is down");
    new.priority = TicketPriority::Critical;
    let created = service::ticket::create(&db, Some(world.client_a), new)
        .await
        .unwrap();
    let admin = actor_of(&db, world.admin).await;
    service::ticket::assign(&db, &admin, created.id, Some(world.agent_a))
        .await
        .unwrap();
    let agent = actor_of(&db, world.agent_a).await;
    service::comment::create_as(&db, &agent, created.id, "On it.", false)
        .await
        .unwrap();
    // Resolution: 4 hours, warned 30 minutes ahead; scanned before, during and after, twice
    // over each moment.
    for minutes in [3 * 60, 3 * 60 + 31, 3 * 60 + 45, 4 * 60 + 1, 4 * 60 + 30] {
        let at = created.created_at + chrono::Duration::minutes(minutes);
        service::sla::scan(&db, at).await.unwrap();
    }
    while !service::event::relay::publish_next(&db, 100, false)
        .await
        .unwrap()
        .events
        .is_empty()
    {}
    let notices = entity::notification::Entity::find()
        .filter(entity::notification::Column::TicketId.eq(created.id))
        .all(&db)
        .await
        .unwrap();
    let of = |user: uuid::Uuid, kind: NotificationKind| {
        notices
            .iter()
            .filter(|n| n.user_id == user && n.kind == kind)
            .count()
    };
    assert_eq!(
        of(world.agent_a, NotificationKind::SlaWarning),
        1,
        "{notices:#?}"
    );
    assert_eq!(of(world.agent_a, NotificationKind::SlaBreach), 1);
    assert_eq!(of(world.agent_a, NotificationKind::Assigned), 1);
    // The requester hears of the reply, and of no SLA matter.
    assert_eq!(of(world.client_a, NotificationKind::Reply), 1);
    assert_eq!(
        of(world.client_a, NotificationKind::SlaWarning)
            + of(world.client_a, NotificationKind::SlaBreach),
        0
    );
}
