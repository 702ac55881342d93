use async_graphql::Object;

use crate::graphql::object::server_info::ServerInfo;

#[derive(Default)]
pub struct ServerQuery;

#[Object]
impl ServerQuery {
    /// Facts about this server: its version and the database it runs on.
    async fn server_info(&self) -> ServerInfo {
        ServerInfo
    }
}
