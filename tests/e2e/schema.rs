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
