use async_graphql::{Context, Object, Result};

use crate::graphql::context::{actor, loaders};
use crate::graphql::error::ResultExt;
use crate::graphql::object::user::User;

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let viewer = &actor(ctx)?;
        loaders(ctx)?
            .users
            .load_one(viewer.user_id)
            .await
            .gql()?
            .map(User)
            .ok_or_else(|| crate::graphql::error::gql(service::Error::NotFound { entity: "user" }))
    }
}
