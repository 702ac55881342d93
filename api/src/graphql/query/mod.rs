mod server;

use async_graphql::MergedObject;

/// Every query root field, merged from one object per area.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(server::ServerQuery);
