#[test]
fn committed_schema_graphql_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let committed = std::fs::read_to_string(&path).expect("schema.graphql is committed");
    let printed = api::graphql::sdl();
    assert!(
        committed == printed,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}

/// Every type, field, argument, input field and enum value of the API is described for its
/// users, as introspection (GraphiQL, code generators) shows them.
#[tokio::test]
async fn every_part_of_the_schema_is_described() {
    use serde_json::{Value, json};
    let app = crate::helpers::TestApp::spawn_with(|s| s.server.introspection = Some(true)).await;
    let answer = app
        .graphql(
            "{ __schema { types { name kind description
                fields(includeDeprecated: true) { name description args { name description } }
                inputFields { name description }
                enumValues(includeDeprecated: true) { name description } } } }",
            json!({}),
        )
        .await;
    let types = answer["data"]["__schema"]["types"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    let described = |v: &Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    let mut missing = Vec::new();
    let mut checked = 0;
    for t in types {
        let name = t["name"].as_str().unwrap();
        // GraphQL's own types and scalars are described by the specification.
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        checked += 1;
        if !described(t) {
            missing.push(format!("type {name}"));
        }
        for field in t["fields"].as_array().into_iter().flatten() {
            let field_name = field["name"].as_str().unwrap();
            if !described(field) {
                missing.push(format!("field {name}.{field_name}"));
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !described(arg) {
                    missing.push(format!("argument {name}.{field_name}({})", arg["name"]));
                }
            }
        }
        for field in t["inputFields"].as_array().into_iter().flatten() {
            if !described(field) {
                missing.push(format!("input field {name}.{}", field["name"]));
            }
        }
        for value in t["enumValues"].as_array().into_iter().flatten() {
            if !described(value) {
                missing.push(format!("enum value {name}.{}", value["name"]));
            }
        }
    }
    assert!(checked > 100, "only {checked} types");
    assert!(
        missing.is_empty(),
        "without a description:\n{}",
        missing.join("\n")
    );
}

/// Every object with a global id is a `Node` and `node(id)` fetches it again for who may see
/// it, and nobody else.
#[tokio::test]
async fn node_resolves_every_kind_of_global_id() {
    use crate::helpers::*;
    use sea_orm::{ActiveModelTrait, EntityTrait};
    use serde_json::{Value, json};
    let app = TestApp::spawn_with(|s| s.server.introspection = Some(true)).await;
    let world = World::build(app.db()).await;
    let db = app.db();
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    let client = app.login(&email_of("client_a"), PASSWORD).await;
    let now = chrono::Utc::now();
    let id = uuid::Uuid::now_v7;

    // Every object type with an `id: ID!` field implements Node.
    let schema = app
        .graphql(
            "{ __schema { types { name kind interfaces { name } fields { name type { kind ofType { name } } } } } }",
            json!({}),
        )
        .await;
    let mut with_ids: Vec<String> = Vec::new();
    for t in schema["data"]["__schema"]["types"].as_array().unwrap() {
        let has_id = t["fields"].as_array().into_iter().flatten().any(|f| {
            f["name"] == "id"
                && f["type"]["kind"] == "NON_NULL"
                && f["type"]["ofType"]["name"] == "ID"
        });
        // An event's id is its number in the event log (the webhook-id of its deliveries),
        // not a global id.
        if t["kind"] == "OBJECT" && has_id && t["name"] != "TicketEvent" {
            let name = t["name"].as_str().unwrap().to_string();
            let node = t["interfaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["name"] == "Node");
            assert!(node, "{name} has a global id but is not a Node");
            with_ids.push(name);
        }
    }

    // One of each, made through the API where that is quick, else written directly.
    app.comment_as(
        &admin,
        &gid("Ticket", world.ticket_a),
        "A word from the admin.",
        false,
    )
    .await;
    let comment = entity::comment::Entity::find().all(db).await.unwrap()[0].id;
    let attachment = crate::attachments::upload(
        &app,
        &client,
        Some(&gid("Ticket", world.ticket_a)),
        "notes.txt",
        "text/plain",
        b"some notes".to_vec(),
        false,
    )
    .await;
    let attached = crate::attachments::comment_with(
        &app,
        &client,
        &gid("Ticket", world.ticket_a),
        false,
        &[attachment.as_str()],
    )
    .await;
    assert!(attached["errors"].is_null(), "{attached}");
    let webhook = id();
    entity::webhook::ActiveModel::from_json(json!({
        "id": webhook, "url": "https://hooks.example.com/x", "description": "", "events": [],
        "organization_id": null, "secret": "sealed", "previous_secret": null,
        "previous_secret_expires_at": null, "enabled": true, "disabled_reason": null,
        "disabled_at": null, "failing_since": null, "created_by": world.admin,
        "created_at": now, "updated_at": now,
    }))
    .unwrap()
    .insert(db)
    .await
    .unwrap();
    let delivery = id();
    entity::webhook_delivery::ActiveModel::from_json(json!({
        "id": delivery, "webhook_id": webhook, "message_id": "msg_1", "event_id": null,
        "ticket_id": null, "kind": "webhook.ping", "body": "{}", "status": "SUCCEEDED",
        "attempt": 1, "next_attempt_at": null, "locked_until": null, "response_status": 200,
        "duration_ms": 5, "error": null, "created_at": now, "last_attempt_at": now,
    }))
    .unwrap()
    .insert(db)
    .await
    .unwrap();
    let calendar = id();
    entity::business_calendar::ActiveModel::from_json(json!({
        "id": calendar, "name": "Office hours", "time_zone": "UTC", "working_hours": [],
        "holidays": [], "created_at": now, "updated_at": now,
    }))
    .unwrap()
    .insert(db)
    .await
    .unwrap();
    let policy = entity::sla_policy::Entity::find().all(db).await.unwrap()[0].id;
    let notification = id();
    entity::notification::ActiveModel::from_json(json!({
        "id": notification, "user_id": world.admin, "event_id": null, "ticket_id": world.ticket_a,
        "kind": "assigned", "channel": "in_app", "title": "t", "body": "b",
        "status": "sent", "attempts": 0, "next_attempt_at": null, "last_error": null,
        "read_at": null, "created_at": now, "sent_at": now,
    }))
    .unwrap()
    .insert(db)
    .await
    .unwrap();
    let emailed = id();
    entity::notification::ActiveModel::from_json(json!({
        "id": emailed, "user_id": world.client_a, "event_id": null, "ticket_id": world.ticket_a,
        "kind": "assigned", "channel": "email", "title": "t", "body": "b",
        "status": "sent", "attempts": 1, "next_attempt_at": null, "last_error": null,
        "read_at": null, "created_at": now, "sent_at": now,
    }))
    .unwrap()
    .insert(db)
    .await
    .unwrap();
    let escalation = id();
    entity::escalation::ActiveModel::from_json(json!({
        "id": escalation, "ticket_id": world.ticket_a, "sla_policy_id": null,
        "target": "resolution", "level": 1, "due_at": now, "escalated_at": now,
        "acknowledged_at": null, "acknowledged_by": null, "created_at": now,
        "recipients": null, "notices": 0, "next_notice_at": null,
    }))
    .unwrap()
    .insert(db)
    .await
    .unwrap();
    let token = id();
    entity::api_token::ActiveModel::from_json(json!({
        "id": token, "user_id": world.admin, "name": "ci", "token_hash": "h", "prefix": "hd_pat_x",
        "read_only": true, "expires_at": null, "last_used_at": null, "revoked_at": null,
        "created_at": now,
    }))
    .unwrap()
    .insert(db)
    .await
    .unwrap();
    service::audit::record(
        db,
        Some(world.admin),
        "test.node",
        None,
        "x",
        &Default::default(),
    )
    .await
    .unwrap();
    let audit = entity::audit_log::Entity::find().all(db).await.unwrap()[0].id;
    let me = app
        .graphql_as(&admin, "{ me { sessions { nodes { id } } } }", json!({}))
        .await;
    let session = me["data"]["me"]["sessions"]["nodes"][0]["id"].clone();

    let ids: Vec<(&str, Value)> = vec![
        ("Ticket", json!(gid("Ticket", world.ticket_a))),
        ("Comment", json!(gid("Comment", comment))),
        ("User", json!(gid("User", world.client_a))),
        ("Organization", json!(gid("Organization", world.org_a))),
        ("Attachment", json!(attachment)),
        ("Webhook", json!(gid("Webhook", webhook))),
        ("WebhookDelivery", json!(gid("WebhookDelivery", delivery))),
        ("SlaPolicy", json!(gid("SlaPolicy", policy))),
        ("BusinessCalendar", json!(gid("BusinessCalendar", calendar))),
        ("Notification", json!(gid("Notification", notification))),
        (
            "NotificationDelivery",
            json!(gid("NotificationDelivery", emailed)),
        ),
        ("Escalation", json!(gid("Escalation", escalation))),
        ("Session", session),
        ("ApiToken", json!(gid("ApiToken", token))),
        ("AuditEntry", json!(gid("AuditEntry", audit))),
    ];
    let mut covered: Vec<String> = ids.iter().map(|(k, _)| k.to_string()).collect();
    covered.sort();
    with_ids.sort();
    assert_eq!(covered, with_ids, "a kind of node without its check here");
    let all: Vec<Value> = ids.iter().map(|(_, id)| id.clone()).collect();
    let query = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }";
    let found = app.graphql_as(&admin, query, json!({ "ids": all })).await;
    for (n, (kind, id)) in ids.iter().enumerate() {
        let node = &found["data"]["nodes"][n];
        assert_eq!(node["__typename"], *kind, "{found}");
        assert_eq!(node["id"], *id, "{found}");
    }
    let single = app
        .graphql_as(
            &admin,
            "query($id: ID!) { node(id: $id) { __typename } }",
            json!({ "id": gid("Escalation", escalation) }),
        )
        .await;
    assert_eq!(
        single["data"]["node"]["__typename"], "Escalation",
        "{single}"
    );
    // A client sees its ticket, the comment on it and the file, and nothing of the staff's.
    let theirs = app.graphql_as(&client, query, json!({ "ids": all })).await;
    let seen: Vec<&str> = theirs["data"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{theirs}"))
        .iter()
        .filter_map(|n| n["__typename"].as_str())
        .collect();
    assert_eq!(
        seen,
        ["Ticket", "Comment", "User", "Organization", "Attachment"],
        "{theirs}"
    );
}

/// Days are the schema's own `Date` (RFC 3339 `full-date`), not the library's `NaiveDate`.
#[test]
fn days_are_a_date_scalar_specified_by_rfc_3339() {
    let sdl = api::graphql::sdl();
    assert!(
        !sdl.contains("NaiveDate"),
        "chrono's name leaks into the schema"
    );
    assert!(
        sdl.contains(
            "scalar Date @specifiedBy(url: \"https://datatracker.ietf.org/doc/html/rfc3339#section-5.6\")"
        ),
        "{sdl}"
    );
}
