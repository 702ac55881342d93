//! Service levels: the clock on tickets through the API, the scanner on a clock of the test's
//! own, and the jobs of two server processes sharing one database.

use std::time::Duration;

use chrono::Utc;
use entity::enums::{SlaTarget, TicketPriority, TicketStatus};
use entity::{escalation, outbox_event, ticket, ticket_history};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, RunningServer, TestApp, TestDatabase, World, actor_of, email_of, error_code, gid,
    helpdesk, metric_value, new_ticket,
};

const SLA: &str = "query($id: ID!) { node(id: $id) { ... on Ticket { status sla {
    firstResponse { dueAt status remainingMinutes }
    resolution { dueAt status remainingMinutes pausedMinutes }
    policy { priority resolutionMinutes } } } } }";

async fn sla_of(app: &TestApp, token: &str, ticket: uuid::Uuid) -> Value {
    let response = app
        .graphql_as(token, SLA, json!({ "id": gid("Ticket", ticket) }))
        .await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["node"].clone()
}

async fn move_to(app: &TestApp, token: &str, ticket: uuid::Uuid, to: &str) {
    let response = app
        .graphql_as(
            token,
            "mutation($input: TicketTransitionInput!) { ticketTransition(input: $input) { userErrors { code } } }",
            json!({ "input": { "id": gid("Ticket", ticket), "to": to } }),
        )
        .await;
    assert_eq!(
        response["data"]["ticketTransition"]["userErrors"],
        json!([]),
        "{response}"
    );
}

async fn with_sla_status(app: &TestApp, token: &str, status: &str) -> Vec<String> {
    let response = app
        .graphql_as(
            token,
            "query($s: [SlaStatus!]) { tickets(first: 50, filter: { slaStatus: $s }) { nodes { id } } }",
            json!({ "s": [status] }),
        )
        .await;
    response["data"]["tickets"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tickets_carry_their_sla_which_pauses_while_waiting_and_is_met_on_resolution() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let agent = app.login(&email_of("agent_a"), PASSWORD).await;
    let ticket = world.ticket_a;
    let id = gid("Ticket", ticket);

    // The fixture's ticket is MEDIUM: the installed default gives it 72 hours.
    let fresh = sla_of(&app, &agent, ticket).await;
    assert_eq!(fresh["sla"]["policy"]["priority"], "MEDIUM");
    assert_eq!(fresh["sla"]["policy"]["resolutionMinutes"], 72 * 60);
    assert_eq!(fresh["sla"]["resolution"]["status"], "ACTIVE");
    assert_eq!(fresh["sla"]["firstResponse"]["status"], "ACTIVE");
    let left = fresh["sla"]["resolution"]["remainingMinutes"]
        .as_i64()
        .unwrap();
    assert!((72 * 60 - 2..=72 * 60).contains(&left), "{fresh}");
    assert!(with_sla_status(&app, &agent, "ACTIVE").await.contains(&id));

    move_to(&app, &agent, ticket, "OPEN").await;
    move_to(&app, &agent, ticket, "PENDING_INFO").await;
    let paused = sla_of(&app, &agent, ticket).await;
    assert_eq!(paused["sla"]["resolution"]["status"], "PAUSED");
    assert!(with_sla_status(&app, &agent, "PAUSED").await.contains(&id));
    assert!(!with_sla_status(&app, &agent, "ACTIVE").await.contains(&id));

    // A reply of the requester resumes the clock.
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let reply = app
        .graphql_as(
            &client,
            "mutation($input: CommentCreateInput!) { commentCreate(input: $input) { ticket { status } } }",
            json!({ "input": { "ticketId": id, "body": "Here is the log." } }),
        )
        .await;
    assert_eq!(reply["data"]["commentCreate"]["ticket"]["status"], "OPEN");
    let resumed = sla_of(&app, &agent, ticket).await;
    assert_eq!(resumed["sla"]["resolution"]["status"], "ACTIVE");

    // A raised priority measures against the CRITICAL policy from the same start.
    let raised = app
        .graphql_as(
            &agent,
            "mutation($input: TicketUpdateInput!) { ticketUpdate(input: $input) { ticket { sla { policy { priority } resolution { remainingMinutes } } } } }",
            json!({ "input": { "id": id, "priority": "CRITICAL" } }),
        )
        .await;
    let sla = &raised["data"]["ticketUpdate"]["ticket"]["sla"];
    assert_eq!(sla["policy"]["priority"], "CRITICAL", "{raised}");
    assert!(sla["resolution"]["remainingMinutes"].as_i64().unwrap() <= 4 * 60);
    let due_before =
        with_sla_due_before(&app, &agent, Utc::now() + chrono::Duration::hours(5)).await;
    assert!(due_before.contains(&id), "{due_before:?}");

    move_to(&app, &agent, ticket, "RESOLVED").await;
    let resolved = sla_of(&app, &agent, ticket).await;
    assert_eq!(resolved["sla"]["resolution"]["status"], "MET");
    assert_eq!(
        resolved["sla"]["resolution"]["remainingMinutes"],
        Value::Null
    );
    assert!(with_sla_status(&app, &agent, "MET").await.contains(&id));
    // The first response was never given, and the resolution answered it in time.
    assert_eq!(resolved["sla"]["firstResponse"]["status"], "MET");
}

async fn with_sla_due_before(app: &TestApp, token: &str, at: chrono::DateTime<Utc>) -> Vec<String> {
    let response = app
        .graphql_as(
            token,
            "query($at: DateTime!) { tickets(first: 50, filter: { resolutionDueBefore: $at }) { nodes { id } } }",
            json!({ "at": at.to_rfc3339() }),
        )
        .await;
    response["data"]["tickets"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn policies_and_calendars_are_managed_by_administrators_and_bad_input_changes_nothing() {
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    const POLICIES: &str = "{ slaPolicies { nodes { name priority resolutionMinutes escalationLevels { level afterMinutes repeatMinutes notify { users { id } roles organizationAgents } } businessCalendar { name } } } }";
    let before = app.graphql_as(&admin, POLICIES, json!({})).await;
    assert_eq!(
        before["data"]["slaPolicies"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let refused = app.graphql_as(&client, POLICIES, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");

    const CALENDAR: &str = "mutation($input: BusinessCalendarCreateInput!) { businessCalendarCreate(input: $input) { calendar { id timeZone workingHours { day from to } holidays } userErrors { field code } } }";
    let hours = json!([
        { "day": "MONDAY", "from": "09:00", "to": "17:00" },
        { "day": "FRIDAY", "from": "09:00", "to": "17:00" },
    ]);
    let bad_zone = app
        .graphql_as(
            &admin,
            CALENDAR,
            json!({ "input": { "name": "Office", "timeZone": "Mars/Olympus", "workingHours": hours } }),
        )
        .await;
    assert_eq!(
        bad_zone["data"]["businessCalendarCreate"]["userErrors"],
        json!([{ "field": "timeZone", "code": "BAD_USER_INPUT" }])
    );
    let calendar = app
        .graphql_as(
            &admin,
            CALENDAR,
            json!({ "input": { "name": "Office", "timeZone": "Europe/Berlin", "workingHours": hours, "holidays": ["2026-12-25"] } }),
        )
        .await;
    let created = &calendar["data"]["businessCalendarCreate"]["calendar"];
    assert_eq!(created["timeZone"], "Europe/Berlin", "{calendar}");
    assert_eq!(created["holidays"], json!(["2026-12-25"]));

    const CREATE: &str = "mutation($input: SlaPolicyCreateInput!) { slaPolicyCreate(input: $input) { policy { name priority active businessCalendar { name } } userErrors { field code } } }";
    let zero = app
        .graphql_as(
            &admin,
            CREATE,
            json!({ "input": { "name": "Instant", "priority": "HIGH", "firstResponseMinutes": 30, "resolutionMinutes": 0 } }),
        )
        .await;
    assert_eq!(
        zero["data"]["slaPolicyCreate"]["userErrors"],
        json!([{ "field": "resolutionMinutes", "code": "BAD_USER_INPUT" }])
    );
    let client_a = world.client_a;
    for levels in [
        // A gap in the numbers.
        json!([{ "level": 2, "afterMinutes": 0, "notify": { "roles": ["SUPERAGENT"] } }]),
        // Nobody to notify.
        json!([{ "level": 1, "afterMinutes": 0, "notify": {} }]),
        // A client, by id or by role.
        json!([{ "level": 1, "afterMinutes": 0, "notify": { "userIds": [gid("User", client_a)] } }]),
        json!([{ "level": 1, "afterMinutes": 0, "notify": { "roles": ["CLIENT"] } }]),
        // Reminders every minute.
        json!([{ "level": 1, "afterMinutes": 0, "repeatMinutes": 1, "notify": { "organizationAgents": true } }]),
    ] {
        let refused = app
            .graphql_as(
                &admin,
                CREATE,
                json!({ "input": { "name": "Refused", "priority": "HIGH", "firstResponseMinutes": 30, "resolutionMinutes": 60,
                    "escalationLevels": levels } }),
            )
            .await;
        assert_eq!(
            refused["data"]["slaPolicyCreate"]["userErrors"],
            json!([{ "field": "escalationLevels", "code": "BAD_USER_INPUT" }]),
            "{levels}: {refused}"
        );
    }
    // The default ladder: the organization's staff, then superagents, then administrators.
    let ladder = &before["data"]["slaPolicies"]["nodes"][0]["escalationLevels"];
    assert_eq!(
        ladder,
        &json!([
            { "level": 1, "afterMinutes": 0, "repeatMinutes": null, "notify": { "users": [], "roles": [], "organizationAgents": true } },
            { "level": 2, "afterMinutes": 60, "repeatMinutes": null, "notify": { "users": [], "roles": ["SUPERAGENT"], "organizationAgents": false } },
            { "level": 3, "afterMinutes": 240, "repeatMinutes": null, "notify": { "users": [], "roles": ["ADMIN"], "organizationAgents": false } },
        ])
    );
    assert_eq!(
        app.graphql_as(&admin, POLICIES, json!({})).await,
        before,
        "refused input changed nothing"
    );

    let office = app
        .graphql_as(
            &admin,
            CREATE,
            json!({ "input": { "name": "High, office hours", "priority": "HIGH", "firstResponseMinutes": 60,
                "resolutionMinutes": 480, "businessCalendarId": created["id"] } }),
        )
        .await;
    let policy = &office["data"]["slaPolicyCreate"]["policy"];
    assert_eq!(policy["active"], true, "{office}");
    assert_eq!(policy["businessCalendar"]["name"], "Office");
    // It replaced the default HIGH policy, which is kept for its tickets.
    let all = app
        .graphql_as(
            &admin,
            "{ slaPolicies(includeInactive: true) { nodes { priority active } } }",
            json!({}),
        )
        .await;
    let high: Vec<&Value> = all["data"]["slaPolicies"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["priority"] == "HIGH")
        .collect();
    assert_eq!(high.len(), 2);
    assert_eq!(high.iter().filter(|p| p["active"] == true).count(), 1);
}

/// A migrated database with the fixtures and the default policies, and no server.
async fn quiet_database() -> (TestDatabase, DatabaseConnection, World) {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    service::sla::install_defaults(&db).await.unwrap();
    let world = World::build(&db).await;
    // The scans run days ahead: the fixtures' own tickets would breach too.
    ticket::Entity::update_many()
        .col_expr(ticket::Column::DeletedAt, Utc::now().into())
        .filter(ticket::Column::Id.is_in([world.ticket_a, world.ticket_b]))
        .exec(&db)
        .await
        .unwrap();
    (database, db, world)
}

async fn sla_events(db: &DatabaseConnection, ticket_id: uuid::Uuid) -> Vec<(String, Value)> {
    outbox_event::Entity::find()
        .filter(outbox_event::Column::TicketId.eq(ticket_id))
        .filter(outbox_event::Column::Kind.starts_with("sla."))
        .order_by_asc(outbox_event::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.payload["sla"].clone()))
        .collect()
}

/// A CRITICAL ticket of organization A that its agent answered at once, and that agent.
async fn answered_critical(
    db: &DatabaseConnection,
    world: &World,
    title: &str,
) -> (ticket::Model, service::actor::Actor) {
    let mut new = new_ticket(world.org_a, world.client_a, title);
    new.priority = TicketPriority::Critical;
    let created = service::ticket::create(db, Some(world.client_a), new)
        .await
        .unwrap();
    let agent = actor_of(db, world.agent_a).await;
    service::comment::create_as(db, &agent, created.id, "On it.", false)
        .await
        .unwrap();
    (created, agent)
}

#[tokio::test]
async fn the_scanner_warns_then_marks_the_breach_then_escalates_each_level_once() {
    let (_database, db, world) = quiet_database().await;
    // Answered at once, so only the resolution clock (4 hours, warning 30 minutes ahead) is
    // left to watch.
    let (created, _) = answered_critical(&db, &world, "Production is down").await;
    let start = created.created_at;
    let at = |minutes: i64| start + chrono::Duration::minutes(minutes);
    let scan = |minutes: i64| {
        let db = db.clone();
        async move { service::sla::scan(&db, at(minutes)).await.unwrap() }
    };

    assert_eq!(scan(3 * 60 + 29).await.warnings, 0);
    let warned = scan(3 * 60 + 31).await;
    assert_eq!((warned.warnings, warned.breaches), (1, 0));
    assert_eq!(
        scan(3 * 60 + 45).await.warnings,
        0,
        "a warning goes out once"
    );

    let breached = scan(4 * 60 + 1).await;
    assert_eq!((breached.breaches, breached.escalations), (1, 0));
    assert_eq!(scan(4 * 60 + 30).await, service::sla::ScanReport::default());
    assert_eq!(
        scan(5 * 60 + 1).await.escalations,
        1,
        "level 2, an hour later"
    );
    assert_eq!(scan(5 * 60 + 2).await.escalations, 0);
    assert_eq!(
        scan(8 * 60 + 1).await.escalations,
        1,
        "level 3, four hours later"
    );
    assert_eq!(scan(30 * 60).await, service::sla::ScanReport::default());

    let kinds: Vec<String> = sla_events(&db, created.id)
        .await
        .into_iter()
        .map(|(kind, detail)| {
            assert_eq!(detail["target"], "RESOLUTION");
            format!("{kind}:{}", detail["level"])
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "sla.warning:null",
            "sla.breached:1",
            "sla.escalated:2",
            "sla.escalated:3"
        ]
    );
    let levels: Vec<(SlaTarget, i32)> = escalation::Entity::find()
        .filter(escalation::Column::TicketId.eq(created.id))
        .order_by_asc(escalation::Column::Level)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.target, e.level))
        .collect();
    assert_eq!(
        levels,
        [
            (SlaTarget::Resolution, 1),
            (SlaTarget::Resolution, 2),
            (SlaTarget::Resolution, 3)
        ]
    );
    let marked = ticket::Entity::find_by_id(created.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(marked.resolution_breached_at.is_some());
    assert_eq!(
        marked.sla_next_check_at, None,
        "nothing is left to announce"
    );

    // The breach shows in the statistics at once.
    let admin = actor_of(&db, world.admin).await;
    let scope = service::stats::scope(
        &admin,
        &service::stats::StatsFilter {
            organization_id: Some(world.org_a),
            ..Default::default()
        },
        Utc::now().date_naive(),
    )
    .unwrap();
    assert_eq!(
        service::stats::compute(&db, &scope).await.unwrap().breached,
        1
    );
}

#[tokio::test]
async fn a_ticket_waiting_for_the_customer_is_not_breached_while_it_waits() {
    let (_database, db, world) = quiet_database().await;
    let (created, agent) = answered_critical(&db, &world, "Waiting").await;
    for to in [TicketStatus::Open, TicketStatus::PendingInfo] {
        service::ticket::transition(&db, &agent, created.id, to, None)
            .await
            .unwrap();
    }
    let report = service::sla::scan(&db, created.created_at + chrono::Duration::days(3))
        .await
        .unwrap();
    assert_eq!((report.warnings, report.breaches), (0, 0));
    assert!(sla_events(&db, created.id).await.is_empty());
}

async fn closed_by_the_system(db: &DatabaseConnection) -> (u64, u64) {
    let history = ticket_history::Entity::find()
        .filter(ticket_history::Column::Field.eq("status"))
        .filter(ticket_history::Column::NewValue.eq("CLOSED"))
        .filter(ticket_history::Column::ActorId.is_null())
        .count(db)
        .await
        .unwrap();
    let events = outbox_event::Entity::find()
        .filter(outbox_event::Column::Kind.eq(service::event::TICKET_STATUS_CHANGED))
        .filter(outbox_event::Column::ActorId.is_null())
        .count(db)
        .await
        .unwrap();
    (history, events)
}

async fn auto_close_runs(address: &str) -> f64 {
    let body = reqwest::get(format!("{address}/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .unwrap();
    metric_value(&body, "helpdesk_job_runs_total{job=\"auto_close\"}").unwrap_or(0.0)
}

#[tokio::test]
async fn two_servers_auto_close_each_eligible_ticket_exactly_once() {
    let database = TestDatabase::create().await;
    let db = database.connect().await;
    api::startup::apply_migrations(&db).await.unwrap();
    let world = World::build(&db).await;
    let agent = actor_of(&db, world.agent_a).await;
    let mut resolved = Vec::new();
    for n in 0..101 {
        let created = service::ticket::create(
            &db,
            Some(world.client_a),
            new_ticket(world.org_a, world.client_a, &format!("Done {n}")),
        )
        .await
        .unwrap();
        service::ticket::transition(&db, &agent, created.id, TicketStatus::Resolved, None)
            .await
            .unwrap();
        resolved.push(created.id);
    }
    // 100 of them were resolved 31 days ago; the last one just now stays RESOLVED.
    let long_ago = Utc::now() - chrono::Duration::days(31);
    ticket::Entity::update_many()
        .col_expr(ticket::Column::ResolvedAt, long_ago.into())
        .filter(ticket::Column::Id.is_in(resolved[..100].to_vec()))
        .exec(&db)
        .await
        .unwrap();

    let replicas = if database.is_postgres() { 2 } else { 1 };
    if replicas == 1 {
        eprintln!(
            "embedded default: one server process (SQLite is one process's file); the two-process run needs HELPDESK_TEST_DATABASE_URL"
        );
    }
    let mut servers = Vec::new();
    for _ in 0..replicas {
        let mut command = helpdesk(&database);
        command
            .args(["serve", "--no-demo"])
            .env("HELPDESK_ADDR", "127.0.0.1:0")
            .env("HELPDESK_JOBS_INTERVAL", "1");
        servers.push(RunningServer::start(command).await);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let closed = ticket::Entity::find()
            .filter(ticket::Column::Status.eq(TicketStatus::Closed))
            .count(&db)
            .await
            .unwrap();
        if closed == 100 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{closed} of 100 closed after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every server finishes another round after the last close: none of them acts again.
    let mut seen = Vec::new();
    for server in &servers {
        seen.push(auto_close_runs(&server.address).await);
    }
    for (server, before) in servers.iter().zip(seen) {
        while auto_close_runs(&server.address).await < before + 2.0 {
            assert!(tokio::time::Instant::now() < deadline, "no further rounds");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(closed_by_the_system(&db).await, (100, 100));
    let recent = ticket::Entity::find_by_id(resolved[100])
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recent.status, TicketStatus::Resolved);
    for server in servers {
        assert!(server.terminate().await.success());
    }
}
