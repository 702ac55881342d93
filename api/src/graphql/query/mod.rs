mod node;
mod server;
mod ticket;
mod viewer;

use async_graphql::MergedObject;

/// Every query root field, merged from one object per area.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    server::ServerQuery,
    viewer::ViewerQuery,
    node::NodeQuery,
    ticket::TicketQuery,
);
