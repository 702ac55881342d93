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
