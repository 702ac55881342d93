//! The access matrix: every ticket operation × every role × a ticket of the actor's own
//! organization and one of another, each allowed or refused with its exact code.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, World, email_of, gid, new_ticket};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Read,
    Update,
    Assign,
    Transition,
    Comment,
    CommentInternal,
    Delete,
}

const OPS: [Op; 7] = [
    Op::Read,
    Op::Update,
    Op::Assign,
    Op::Transition,
    Op::Comment,
    Op::CommentInternal,
    Op::Delete,
];

/// `Ok` or the code: top-level `extensions.code`, or the first user error's code.
fn outcome(op: Op, response: &Value) -> Result<(), String> {
    if let Some(code) = response["errors"][0]["extensions"]["code"].as_str() {
        return Err(code.to_string());
    }
    let data = &response["data"];
    let payload = match op {
        Op::Read => {
            return if data["ticket"].is_object() {
                Ok(())
            } else {
                Err("NOT_FOUND".into())
            };
        }
        Op::Update => &data["ticketUpdate"],
        Op::Assign => &data["ticketAssign"],
        Op::Transition => &data["ticketTransition"],
        Op::Comment | Op::CommentInternal => &data["commentCreate"],
        Op::Delete => &data["ticketDelete"],
    };
    match payload["userErrors"][0]["code"].as_str() {
        Some(code) => Err(code.to_string()),
        None => Ok(()),
    }
}

fn operation(op: Op, ticket: &str, assignee: &str) -> (String, Value) {
    let (query, variables) = match op {
        Op::Read => (
            "query($id: ID!) { ticket(id: $id) { id } }",
            json!({ "id": ticket }),
        ),
        Op::Update => (
            "mutation($id: ID!) { ticketUpdate(input: { id: $id, priority: HIGH }) { ticket { id } userErrors { code } } }",
            json!({ "id": ticket }),
        ),
        Op::Assign => (
            "mutation($id: ID!, $to: ID) { ticketAssign(input: { id: $id, assigneeId: $to }) { ticket { id } userErrors { code } } }",
            json!({ "id": ticket, "to": assignee }),
        ),
        Op::Transition => (
            "mutation($id: ID!) { ticketTransition(input: { id: $id, to: OPEN }) { ticket { id } userErrors { code } } }",
            json!({ "id": ticket }),
        ),
        Op::Comment => (
            "mutation($id: ID!) { commentCreate(input: { ticketId: $id, body: \"Hello\" }) { comment { id } userErrors { code } } }",
            json!({ "id": ticket }),
        ),
        Op::CommentInternal => (
            "mutation($id: ID!) { commentCreate(input: { ticketId: $id, body: \"Note\", internal: true }) { comment { id } userErrors { code } } }",
            json!({ "id": ticket }),
        ),
        Op::Delete => (
            "mutation($id: ID!) { ticketDelete(input: { id: $id }) { ticket { id } userErrors { code } } }",
            json!({ "id": ticket }),
        ),
    };
    (query.to_string(), variables)
}

/// What the rules say, for a ticket the actor's organization owns (`own`) or not.
fn expected(role: &str, op: Op, own: bool) -> Result<(), &'static str> {
    use Op::*;
    match (role, op) {
        ("admin", _) => Ok(()),
        ("superagent", Delete) => Err("FORBIDDEN"),
        ("superagent", _) => Ok(()),
        // Out of reach: the ticket does not exist for them; a comment names the bad ticketId.
        (_, Comment | CommentInternal) if !own => Err("BAD_USER_INPUT"),
        (_, _) if !own => Err("NOT_FOUND"),
        ("agent", Delete) => Err("FORBIDDEN"),
        ("agent", _) => Ok(()),
        // The requester reads and comments publicly; NEW -> OPEN is a staff move.
        ("client", Read | Comment) => Ok(()),
        ("client", _) => Err("FORBIDDEN"),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn every_ticket_operation_for_every_role_on_own_and_other_organizations() {
    let app = TestApp::spawn().await;
    let db = app.db();
    let world = World::build(db).await;
    let roles = [
        ("admin", "admin"),
        ("superagent", "superagent"),
        ("agent", "agent_a"),
        ("client", "client_a"),
    ];
    let mut tokens = std::collections::HashMap::new();
    for (_, user) in roles {
        tokens.insert(user, app.login(&email_of(user), PASSWORD).await);
    }
    let mut checked = 0;
    for (role, user) in roles {
        for op in OPS {
            for own in [true, false] {
                // A fresh ticket per case: the allowed cases change it.
                let (org, requester, assignee) = if own {
                    (world.org_a, world.client_a, world.agent_a)
                } else {
                    (world.org_b, world.client_b, world.agent_b)
                };
                let ticket = service::ticket::create(
                    db,
                    Some(requester),
                    new_ticket(org, requester, "Matrix"),
                )
                .await
                .unwrap();
                let (query, variables) =
                    operation(op, &gid("Ticket", ticket.id), &gid("User", assignee));
                let response = app.graphql_as(&tokens[user], &query, variables).await;
                let got = outcome(op, &response);
                let want = expected(role, op, own).map_err(str::to_string);
                assert_eq!(
                    got,
                    want,
                    "{role} {op:?} on {} ticket: {response}",
                    if own { "own" } else { "other" }
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 7 * 2);
}
