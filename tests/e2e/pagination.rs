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
