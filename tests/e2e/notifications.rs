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
    use entity::enums::NotificationKind;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    // No server: the scanner runs on a clock of the test's own, and the relay is called here.
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    service::sla::install_defaults(&db).await.unwrap();
    let world = World::build(&db).await;
    let created = answered_critical(&db, &world).await;
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

/// A CRITICAL ticket of organization A, assigned to its agent, who answered at once: only
/// its resolution clock (4 hours, warned 30 minutes ahead) is left to watch.
async fn answered_critical(
    db: &sea_orm::DatabaseConnection,
    world: &World,
) -> entity::ticket::Model {
    let mut new = new_ticket(world.org_a, world.client_a, "Production is down");
    new.priority = entity::enums::TicketPriority::Critical;
    let created = service::ticket::create(db, Some(world.client_a), new)
        .await
        .unwrap();
    let admin = actor_of(db, world.admin).await;
    service::ticket::assign(db, &admin, created.id, Some(world.agent_a))
        .await
        .unwrap();
    let agent = actor_of(db, world.agent_a).await;
    service::comment::create_as(db, &agent, created.id, "On it.", false)
        .await
        .unwrap();
    created
}

/// The in-app notices of one ticket, as (recipient, kind, title).
async fn notices_of(
    app: &TestApp,
    ticket: uuid::Uuid,
) -> Vec<(uuid::Uuid, entity::enums::NotificationKind, String)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    app.published().await;
    entity::notification::Entity::find()
        .filter(entity::notification::Column::TicketId.eq(ticket))
        .order_by_asc(entity::notification::Column::Id)
        .all(app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.user_id, n.kind, n.title))
        .collect()
}

#[tokio::test]
async fn escalation_levels_notify_their_targets_and_remind_until_acknowledged_each_notice_once() {
    use entity::enums::NotificationKind::{self, Escalation, SlaBreach, SlaWarning};
    use sea_orm::EntityTrait;
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let db = app.db().clone();
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let superagent = app.login(&email_of("superagent"), PASSWORD).await;
    let agent_b = app.login(&email_of("agent_b"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;

    // The CRITICAL ladder: at the breach the organization's staff and the superagents, reminded
    // every 10 minutes; an hour later the administrator by name, reminded every 30.
    let critical = policy_id(&app, &admin, "CRITICAL").await;
    let updated = app
        .graphql_as(
            &admin,
            "mutation($input: SlaPolicyUpdateInput!) { slaPolicyUpdate(input: $input) { policy { escalationLevels { level notify { users { id } roles organizationAgents } } } userErrors { field message } } }",
            json!({ "input": { "id": critical, "escalationLevels": [
                { "level": 1, "afterMinutes": 0, "repeatMinutes": 10,
                  "notify": { "organizationAgents": true, "roles": ["SUPERAGENT"] } },
                { "level": 2, "afterMinutes": 60, "repeatMinutes": 30,
                  "notify": { "userIds": [gid("User", world.admin)] } },
            ] } }),
        )
        .await;
    assert_eq!(
        updated["data"]["slaPolicyUpdate"]["userErrors"],
        json!([]),
        "{updated}"
    );
    assert_eq!(
        updated["data"]["slaPolicyUpdate"]["policy"]["escalationLevels"][1]["notify"]["users"],
        json!([{ "id": gid("User", world.admin) }])
    );

    // A CRITICAL ticket of organization A, assigned to its agent, who answers at once: the
    // resolution clock (4 hours, warned 30 minutes ahead) is left.
    let created = answered_critical(&db, &world).await;
    let before = notices_of(&app, created.id).await.len();

    // The scanner on the test's clock; every moment scanned twice, and nothing goes out twice.
    let scan = |minutes: i64| {
        let db = db.clone();
        let at = created.created_at + chrono::Duration::minutes(minutes);
        async move {
            let first = service::sla::scan(&db, at).await.unwrap();
            let again = service::sla::scan(&db, at).await.unwrap();
            assert_eq!(
                (
                    again.warnings,
                    again.breaches,
                    again.escalations,
                    again.reminders
                ),
                (0, 0, 0, 0),
                "a second scan of the same moment sends nothing"
            );
            first
        }
    };
    let new_notices = |from: usize| {
        let app = &app;
        async move {
            let all = notices_of(app, created.id).await;
            let mut fresh: Vec<(uuid::Uuid, NotificationKind)> =
                all[from..].iter().map(|(u, k, _)| (*u, *k)).collect();
            fresh.sort_by_key(|(u, k)| (*u, *k as u8));
            (all.len(), fresh)
        }
    };
    let sorted = |mut list: Vec<(uuid::Uuid, NotificationKind)>| {
        list.sort_by_key(|(u, k)| (*u, *k as u8));
        list
    };

    assert_eq!(scan(3 * 60 + 31).await.warnings, 1);
    let (seen, fresh) = new_notices(before).await;
    assert_eq!(fresh, [(world.agent_a, SlaWarning)]);

    // The breach: the assignee hears of it once (though level 1 names them too), the
    // superagent as level 1's target; the agent of another organization and the client not.
    let breach = scan(4 * 60 + 1).await;
    assert_eq!((breach.breaches, breach.escalations), (1, 0));
    let (seen, fresh) = new_notices(seen).await;
    assert_eq!(
        fresh,
        sorted(vec![
            (world.agent_a, SlaBreach),
            (world.superagent, Escalation)
        ])
    );
    const OPEN: &str = "query($filter: EscalationFilter) { escalations(filter: $filter) { nodes { id level target notices nextNoticeAt acknowledgedAt acknowledgedBy { id } recipients { nodes { id } } ticket { id } } } }";
    let listed = app.graphql_as(&superagent, OPEN, json!({})).await;
    let open = listed["data"]["escalations"]["nodes"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{listed}");
    let level_1 = open[0].clone();
    assert_eq!(level_1["level"], 1);
    assert_eq!(level_1["target"], "RESOLUTION");
    assert_eq!(level_1["ticket"]["id"], gid("Ticket", created.id));
    let mut reached: Vec<String> = level_1["recipients"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    reached.sort();
    let mut expected = vec![gid("User", world.agent_a), gid("User", world.superagent)];
    expected.sort();
    assert_eq!(reached, expected);
    // Escalations are staff's, and only of tickets they may read.
    assert_eq!(
        error_code(&app.graphql_as(&client, OPEN, json!({})).await),
        "FORBIDDEN"
    );
    let elsewhere = app.graphql_as(&agent_b, OPEN, json!({})).await;
    assert_eq!(elsewhere["data"]["escalations"]["nodes"], json!([]));
    const ACK: &str = "mutation($input: EscalationAcknowledgeInput!) { escalationAcknowledge(input: $input) { escalation { acknowledgedAt acknowledgedBy { id } nextNoticeAt } userErrors { field code } } }";
    let stranger = app
        .graphql_as(&agent_b, ACK, json!({ "input": { "id": level_1["id"] } }))
        .await;
    assert_eq!(error_code(&stranger), "NOT_FOUND");

    // Nobody took it: ten minutes later its targets are reminded.
    assert_eq!(scan(4 * 60 + 12).await.reminders, 1);
    let (seen, fresh) = new_notices(seen).await;
    assert_eq!(
        fresh,
        sorted(vec![
            (world.agent_a, Escalation),
            (world.superagent, Escalation)
        ])
    );

    // The superagent takes it: the reminders stop, and taking it again changes nothing.
    let taken = app
        .graphql_as(
            &superagent,
            ACK,
            json!({ "input": { "id": level_1["id"] } }),
        )
        .await;
    let escalation = &taken["data"]["escalationAcknowledge"]["escalation"];
    assert_eq!(
        escalation["acknowledgedBy"]["id"],
        gid("User", world.superagent),
        "{taken}"
    );
    assert!(escalation["acknowledgedAt"].is_string());
    assert!(escalation["nextNoticeAt"].is_null());
    let again = app
        .graphql_as(&admin, ACK, json!({ "input": { "id": level_1["id"] } }))
        .await;
    assert_eq!(
        again["data"]["escalationAcknowledge"]["escalation"]["acknowledgedBy"]["id"],
        gid("User", world.superagent)
    );
    let row = entity::escalation::Entity::find_by_id(uuid_of(&level_1["id"]))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.acknowledged_by, Some(world.superagent));
    assert_eq!(row.notices, 2);
    let listed = app.graphql_as(&superagent, OPEN, json!({})).await;
    assert_eq!(listed["data"]["escalations"]["nodes"], json!([]));
    let closed = app
        .graphql_as(&superagent, OPEN, json!({ "filter": { "open": false } }))
        .await;
    assert_eq!(
        closed["data"]["escalations"]["nodes"][0]["id"],
        level_1["id"]
    );
    for minutes in [4 * 60 + 23, 4 * 60 + 35, 4 * 60 + 50] {
        let report = scan(minutes).await;
        assert_eq!(
            (report.reminders, report.escalations),
            (0, 0),
            "no reminder after the acknowledgement"
        );
    }
    let (seen, fresh) = new_notices(seen).await;
    assert_eq!(fresh, []);

    // Level 2 an hour after the breach, to the administrator named; then its reminder.
    assert_eq!(scan(5 * 60 + 1).await.escalations, 1);
    let (seen, fresh) = new_notices(seen).await;
    assert_eq!(fresh, [(world.admin, Escalation)]);
    assert_eq!(scan(5 * 60 + 32).await.reminders, 1);
    let (seen, fresh) = new_notices(seen).await;
    assert_eq!(fresh, [(world.admin, Escalation)]);
    let titles: Vec<String> = notices_of(&app, created.id).await[seen - 1..]
        .iter()
        .map(|(_, _, title)| title.clone())
        .collect();
    assert!(
        titles[0].contains("Reminder: escalated to you (level 2)"),
        "{titles:?}"
    );
    let level_2 = app
        .graphql_as(&admin, OPEN, json!({ "filter": { "level": 2 } }))
        .await["data"]["escalations"]["nodes"][0]["id"]
        .clone();
    app.graphql_as(&admin, ACK, json!({ "input": { "id": level_2 } }))
        .await;
    assert_eq!(scan(6 * 60 + 5).await.reminders, 0);
    let (_, fresh) = new_notices(seen).await;
    assert_eq!(fresh, []);

    // The client heard of the reply only; the other organization's agent of nothing.
    let notices = notices_of(&app, created.id).await;
    assert!(
        notices.iter().all(|(user, kind, _)| *user != world.agent_b
            && (*user != world.client_a || *kind == NotificationKind::Reply)),
        "{notices:#?}"
    );
    // The acknowledgement is in the event log, by the one who took it.
    let acknowledged = {
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
        entity::outbox_event::Entity::find()
            .filter(entity::outbox_event::Column::TicketId.eq(created.id))
            .filter(entity::outbox_event::Column::Kind.eq("sla.acknowledged"))
            .order_by_asc(entity::outbox_event::Column::Sequence)
            .all(&db)
            .await
            .unwrap()
    };
    assert_eq!(acknowledged.len(), 2);
    assert_eq!(acknowledged[0].actor_id, Some(world.superagent));
}

#[tokio::test]
async fn mentions_in_notes_reach_the_staff_named_and_never_a_client() {
    use entity::enums::NotificationKind::{Mention, RequesterReply};
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let superagent = app.login(&email_of("superagent"), PASSWORD).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let ticket = gid("Ticket", world.ticket_a);
    assign(&app, &admin, &ticket, world.agent_a).await;
    let before = notices_of(&app, world.ticket_a).await.len();
    const NOTE: &str = "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } userErrors { field code } } }";
    let note = |token: &str, body: &str, internal: bool, mentions: Vec<uuid::Uuid>| {
        let variables = json!({ "input": {
            "ticketId": ticket, "body": body, "internal": internal,
            "mentionIds": mentions.iter().map(|id| gid("User", *id)).collect::<Vec<_>>(),
        } });
        let token = token.to_string();
        let app = &app;
        async move { app.graphql_as(&token, NOTE, variables).await }
    };

    // The assignee, by handle in a note; a handle of no one and a mail address are text.
    let written = note(
        &superagent,
        "@agent_a the logs are attached; ask @nobody or mail ops@example.com",
        true,
        vec![],
    )
    .await;
    assert_eq!(
        written["data"]["commentCreate"]["userErrors"],
        json!([]),
        "{written}"
    );
    // Two by the list and by name; the author is never told of their own mention.
    note(
        &agent,
        "Escalating to @Admin and myself @agent_a.",
        true,
        vec![world.superagent],
    )
    .await;
    let mut fresh: Vec<uuid::Uuid> = notices_of(&app, world.ticket_a).await[before..]
        .iter()
        .map(|(user, kind, _)| {
            assert_eq!(*kind, Mention);
            *user
        })
        .collect();
    fresh.sort();
    let mut expected = vec![world.agent_a, world.admin, world.superagent];
    expected.sort();
    assert_eq!(fresh, expected);
    let inbox_of_agent = inbox(&app, &agent, true).await;
    assert!(
        inbox_of_agent["nodes"][0]["title"]
            .as_str()
            .unwrap()
            .contains("You were mentioned in an internal note"),
        "{inbox_of_agent}"
    );

    // Someone who may not read the ticket, and mentions by a client, are refused: nothing is
    // written.
    for (token, internal, mentions) in [
        (&agent, true, vec![world.agent_b]),
        (&agent, true, vec![world.client_a]),
        (&client, false, vec![world.agent_a]),
    ] {
        let refused = note(token, "Look at this.", internal, mentions).await;
        assert_eq!(
            refused["data"]["commentCreate"]["userErrors"],
            json!([{ "field": "mentionIds", "code": "BAD_USER_INPUT" }]),
            "{refused}"
        );
    }
    // A client's handle mentions no one: the assignee hears of the reply as such.
    let count = notices_of(&app, world.ticket_a).await.len();
    note(&client, "@superagent any news?", false, vec![]).await;
    let fresh: Vec<(uuid::Uuid, entity::enums::NotificationKind)> =
        notices_of(&app, world.ticket_a).await[count..]
            .iter()
            .map(|(user, kind, _)| (*user, *kind))
            .collect();
    assert_eq!(fresh, [(world.agent_a, RequesterReply)]);
    // The client heard of none of the notes.
    let client_inbox = inbox(&app, &client, false).await;
    assert!(
        !client_inbox.to_string().contains("mentioned"),
        "{client_inbox}"
    );
}
