//! Keyset pagination over every order, forward and backward, and the ticket filters.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::TestApp;

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $order: TicketOrder, $filter: TicketFilter) {
    tickets(first: $first, after: $after, last: $last, before: $before, orderBy: $order, filter: $filter) {
        totalCount
        edges { cursor node { number priority status createdAt assignee { id } } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

fn rank(priority: &str) -> i32 {
    ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
        .iter()
        .position(|p| *p == priority)
        .unwrap() as i32
}

async fn walk(app: &TestApp, token: &str, order: Value, forward: bool) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let variables = if forward {
            json!({ "first": 7, "after": cursor, "order": order })
        } else {
            json!({ "last": 7, "before": cursor, "order": order })
        };
        let response = app.graphql_as(token, PAGE, variables).await;
        let page = &response["data"]["tickets"];
        let mut nodes: Vec<Value> = page["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{response}"))
            .iter()
            .map(|e| e["node"].clone())
            .collect();
        if forward {
            seen.append(&mut nodes);
            if page["pageInfo"]["hasNextPage"] != true {
                break;
            }
            cursor = page["pageInfo"]["endCursor"].as_str().map(str::to_string);
        } else {
            nodes.append(&mut seen);
            seen = nodes;
            if page["pageInfo"]["hasPreviousPage"] != true {
                break;
            }
            cursor = page["pageInfo"]["startCursor"].as_str().map(str::to_string);
        }
        assert!(seen.len() <= 100, "the walk does not end");
    }
    seen
}

#[tokio::test]
async fn pages_cover_every_ticket_once_in_order_both_ways() {
    let app = TestApp::spawn().await;
    service::seed::demo(app.db(), 45, &|_| {}).await.unwrap();
    let token = app
        .login("admin@demo.helpdesk.local", service::seed::DEMO_PASSWORD)
        .await;
    let orders = [
        json!({ "field": "CREATED_AT", "direction": "DESC" }),
        json!({ "field": "NUMBER", "direction": "ASC" }),
        json!({ "field": "PRIORITY", "direction": "DESC" }),
        json!({ "field": "PRIORITY", "direction": "ASC" }),
        json!({ "field": "UPDATED_AT", "direction": "ASC" }),
    ];
    for order in orders {
        let forward = walk(&app, &token, order.clone(), true).await;
        let numbers: Vec<&str> = forward
            .iter()
            .map(|n| n["number"].as_str().unwrap())
            .collect();
        assert_eq!(numbers.len(), 45, "{order}");
        assert_eq!(
            numbers.iter().collect::<HashSet<_>>().len(),
            45,
            "{order}: a ticket came twice"
        );
        let ordered = forward
            .windows(2)
            .all(|pair| match order["field"].as_str().unwrap() {
                "PRIORITY" if order["direction"] == "DESC" => {
                    rank(pair[0]["priority"].as_str().unwrap())
                        >= rank(pair[1]["priority"].as_str().unwrap())
                }
                "PRIORITY" => {
                    rank(pair[0]["priority"].as_str().unwrap())
                        <= rank(pair[1]["priority"].as_str().unwrap())
                }
                "NUMBER" => {
                    pair[0]["number"].as_str().unwrap()[3..]
                        .parse::<i64>()
                        .unwrap()
                        < pair[1]["number"].as_str().unwrap()[3..]
                            .parse::<i64>()
                            .unwrap()
                }
                "CREATED_AT" => pair[0]["createdAt"].as_str() >= pair[1]["createdAt"].as_str(),
                _ => true,
            });
        assert!(ordered, "{order}: out of order: {numbers:?}");
        let backward = walk(&app, &token, order.clone(), false).await;
        assert_eq!(
            backward, forward,
            "{order}: walking back gives another sequence"
        );
    }
}

#[tokio::test]
async fn filters_narrow_the_list_and_the_count() {
    let app = TestApp::spawn().await;
    service::seed::demo(app.db(), 60, &|_| {}).await.unwrap();
    let token = app
        .login("admin@demo.helpdesk.local", service::seed::DEMO_PASSWORD)
        .await;
    let all = app.graphql_as(&token, PAGE, json!({ "first": 100 })).await;
    assert_eq!(all["data"]["tickets"]["totalCount"], 60);
    for (filter, check) in [
        (json!({ "status": ["OPEN", "NEW"] }), "status"),
        (json!({ "unassigned": true }), "unassigned"),
        (json!({ "priority": ["CRITICAL"] }), "priority"),
    ] {
        let response = app
            .graphql_as(&token, PAGE, json!({ "first": 100, "filter": filter }))
            .await;
        let page = &response["data"]["tickets"];
        let nodes: Vec<&Value> = page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["node"])
            .collect();
        assert_eq!(page["totalCount"], nodes.len(), "{filter}");
        assert!(
            !nodes.is_empty() && nodes.len() < 60,
            "{filter}: {} of 60",
            nodes.len()
        );
        for node in nodes {
            let ok = match check {
                "status" => ["OPEN", "NEW"].contains(&node["status"].as_str().unwrap()),
                "unassigned" => node["assignee"].is_null(),
                _ => node["priority"] == "CRITICAL",
            };
            assert!(ok, "{filter}: {node}");
        }
    }
}

/// Agents work their queue by what is due first: both due dates order the list, tickets
/// without a target after the others, and pages walk it either way without gaps.
#[tokio::test]
async fn the_queue_orders_by_due_dates_with_undated_tickets_last() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    let app = TestApp::spawn().await;
    service::seed::demo(app.db(), 30, &|_| {}).await.unwrap();
    // Five tickets without targets.
    let undated: Vec<uuid::Uuid> = entity::ticket::Entity::find()
        .select_only()
        .column(entity::ticket::Column::Id)
        .limit(5)
        .into_tuple()
        .all(app.db())
        .await
        .unwrap();
    entity::ticket::Entity::update_many()
        .col_expr(
            entity::ticket::Column::ResolutionDueAt,
            sea_orm::sea_query::Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(
            entity::ticket::Column::FirstResponseDueAt,
            sea_orm::sea_query::Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(entity::ticket::Column::Id.is_in(undated.clone()))
        .exec(app.db())
        .await
        .unwrap();
    let rows: std::collections::HashMap<String, entity::ticket::Model> =
        entity::ticket::Entity::find()
            .all(app.db())
            .await
            .unwrap()
            .into_iter()
            .map(|t| (format!("HD-{}", t.number), t))
            .collect();
    let token = app
        .login("admin@demo.helpdesk.local", service::seed::DEMO_PASSWORD)
        .await;
    for (field, due) in [
        (
            "RESOLUTION_DUE_AT",
            (|t: &entity::ticket::Model| t.resolution_due_at)
                as fn(&entity::ticket::Model) -> Option<chrono::DateTime<chrono::Utc>>,
        ),
        ("FIRST_RESPONSE_DUE_AT", |t| t.first_response_due_at),
    ] {
        for direction in ["ASC", "DESC"] {
            let order = json!({ "field": field, "direction": direction });
            let forward = walk(&app, &token, order.clone(), true).await;
            assert_eq!(forward.len(), 30, "{order}");
            let dues: Vec<Option<chrono::DateTime<chrono::Utc>>> = forward
                .iter()
                .map(|n| due(&rows[n["number"].as_str().unwrap()]))
                .collect();
            assert!(
                dues.iter().filter(|d| d.is_some()).count() >= 20,
                "{dues:?}"
            );
            // Undated sorts as the latest due date of all.
            let key = |d: &Option<chrono::DateTime<chrono::Utc>>| {
                d.unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
            };
            let ordered = dues.windows(2).all(|pair| {
                if direction == "ASC" {
                    key(&pair[0]) <= key(&pair[1])
                } else {
                    key(&pair[0]) >= key(&pair[1])
                }
            });
            assert!(ordered, "{order}: {dues:?}");
            let backward = walk(&app, &token, order.clone(), false).await;
            assert_eq!(backward, forward, "{order}");
        }
    }

    // Changed before an instant: the filter's other side.
    let changed = rows.values().map(|t| t.updated_at).max().unwrap();
    let before = app
        .graphql_as(
            &token,
            PAGE,
            json!({ "first": 100, "filter": { "updatedBefore": changed.to_rfc3339() } }),
        )
        .await;
    let expected = rows.values().filter(|t| t.updated_at < changed).count();
    assert_eq!(
        before["data"]["tickets"]["totalCount"],
        json!(expected),
        "{before}"
    );
    assert!(expected < 30);
}

/// The connection at `path` in `answer`.
fn at<'a>(answer: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(&answer["data"], |value, key| &value[*key])
}

/// Walks the list `query` answers (it takes `$first` and `$after`; its connection is at
/// `path`) one item at a time, and checks the walk against the whole list read in one page:
/// the same ids in the same order, `totalCount` the whole list's length on every page, and
/// `pageInfo` saying where each page sits. Returns the whole list's cursors and ids.
async fn walk_one_by_one(
    app: &TestApp,
    token: &str,
    query: &str,
    path: &[&str],
) -> Vec<(String, String)> {
    let whole = app.graphql_as(token, query, json!({ "first": 100 })).await;
    let connection = at(&whole, path);
    let total = connection["totalCount"]
        .as_u64()
        .unwrap_or_else(|| panic!("{whole}"));
    let all: Vec<(String, String)> = connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{whole}"))
        .iter()
        .map(|e| {
            (
                e["cursor"].as_str().unwrap().to_string(),
                e["node"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(all.len() as u64, total, "{whole}");
    assert!(all.len() >= 2, "a list to walk: {whole}");
    assert_eq!(connection["pageInfo"]["hasNextPage"], false, "{whole}");

    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .graphql_as(token, query, json!({ "first": 1, "after": after }))
            .await;
        let connection = at(&page, path);
        assert_eq!(connection["totalCount"], total, "{page}");
        assert_eq!(
            connection["pageInfo"]["hasPreviousPage"],
            after.is_some(),
            "{page}"
        );
        let edges = connection["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{page}"));
        assert_eq!(edges.len(), 1, "{page}");
        walked.push(edges[0]["node"]["id"].as_str().unwrap().to_string());
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(String::from);
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        assert!(walked.len() <= all.len(), "the walk does not end: {page}");
    }
    let ids: Vec<String> = all.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(walked, ids, "{query}");
    all
}

/// Every list of things in the schema is a connection with the same rules: `first` and
/// `after`, cursors that walk it in order, `totalCount`, `pageInfo`, and cursors of another
/// list refused by the field that carried them.
#[tokio::test]
async fn every_list_is_a_connection_walked_by_first_and_after() {
    use crate::helpers::{PASSWORD, World, email_of, gid};
    let app = TestApp::spawn().await;
    let world = World::build(app.db()).await;
    service::organization::add_member(app.db(), world.org_b, world.agent_a)
        .await
        .unwrap();
    for _ in 0..2 {
        app.login(&email_of("admin"), PASSWORD).await;
    }
    let admin = app.login(&email_of("admin"), PASSWORD).await;
    for n in 1..=3 {
        for (mutation, input) in [
            (
                "mutation($input: WebhookCreateInput!) { webhookCreate(input: $input) { userErrors { field } } }",
                json!({ "url": format!("http://127.0.0.1:9/hook{n}") }),
            ),
            (
                "mutation($input: ApiTokenCreateInput!) { apiTokenCreate(input: $input) { userErrors { field } } }",
                json!({ "name": format!("Integration {n}") }),
            ),
            (
                "mutation($input: BusinessCalendarCreateInput!) { businessCalendarCreate(input: $input) { userErrors { field } } }",
                json!({ "name": format!("Office {n}"), "timeZone": "Europe/Berlin", "workingHours": [{ "day": "MONDAY", "from": "09:00", "to": "17:00" }] }),
            ),
        ] {
            let done = app
                .graphql_as(&admin, mutation, json!({ "input": input }))
                .await;
            let payload = done["data"].as_object().and_then(|d| d.values().next());
            assert_eq!(
                payload.map(|p| &p["userErrors"]),
                Some(&json!([])),
                "{done}"
            );
        }
    }

    let page = "totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor }";
    let lists = [
        (
            format!(
                "query($first: Int!, $after: String) {{ organization(id: \"{}\") {{ members(first: $first, after: $after) {{ {page} }} }} }}",
                gid("Organization", world.org_a)
            ),
            vec!["organization", "members"],
        ),
        (
            format!(
                "query($first: Int!, $after: String) {{ user(id: \"{}\") {{ organizations(first: $first, after: $after) {{ {page} }} }} }}",
                gid("User", world.agent_a)
            ),
            vec!["user", "organizations"],
        ),
        (
            format!(
                "query($first: Int!, $after: String) {{ me {{ sessions(first: $first, after: $after) {{ {page} }} }} }}"
            ),
            vec!["me", "sessions"],
        ),
        (
            format!(
                "query($first: Int!, $after: String) {{ me {{ apiTokens(first: $first, after: $after) {{ {page} }} }} }}"
            ),
            vec!["me", "apiTokens"],
        ),
        (
            format!(
                "query($first: Int!, $after: String) {{ webhooks(first: $first, after: $after) {{ {page} }} }}"
            ),
            vec!["webhooks"],
        ),
        (
            format!(
                "query($first: Int!, $after: String) {{ slaPolicies(includeInactive: true, first: $first, after: $after) {{ {page} }} }}"
            ),
            vec!["slaPolicies"],
        ),
        (
            format!(
                "query($first: Int!, $after: String) {{ businessCalendars(first: $first, after: $after) {{ {page} }} }}"
            ),
            vec!["businessCalendars"],
        ),
    ];
    let mut cursors = Vec::new();
    for (query, path) in &lists {
        let all = walk_one_by_one(&app, &admin, query, path).await;
        cursors.push(all[0].0.clone());
    }

    // What the lists hold: members by name, the newest session first, and so on.
    let members = app
        .graphql_as(
            &admin,
            &lists[0].0.replace("cursor node { id }", "node { name }"),
            json!({ "first": 100 }),
        )
        .await;
    let names: Vec<&str> = at(&members, &lists[0].1)["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "{members}");
    let sessions = app
        .graphql_as(
            &admin,
            "{ me { sessions(first: 1) { totalCount nodes { current } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        sessions["data"]["me"]["sessions"]["totalCount"], 3,
        "{sessions}"
    );
    assert_eq!(
        sessions["data"]["me"]["sessions"]["nodes"][0]["current"], true,
        "the session in use was the last one made: {sessions}"
    );

    // A cursor of one list is refused by another, and so is a made-up one.
    let foreign = [
        (&lists[0], cursors[2].clone()),
        (&lists[2], cursors[0].clone()),
        (&lists[4], "not-a-cursor".to_string()),
    ];
    for ((query, _), cursor) in foreign {
        let refused = app
            .graphql_as(&admin, query, json!({ "first": 1, "after": cursor }))
            .await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{refused}"
        );
        assert_eq!(
            refused["errors"][0]["extensions"]["field"], "after",
            "{refused}"
        );
    }
}
