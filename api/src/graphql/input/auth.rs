use async_graphql::InputObject;

#[derive(InputObject)]
pub struct AuthLoginInput {
    pub email: String,
    #[graphql(secret)]
    pub password: String,
}

#[derive(InputObject)]
pub struct AuthRefreshInput {
    #[graphql(secret)]
    pub refresh_token: String,
}

#[derive(InputObject)]
pub struct AuthLogoutInput {
    #[graphql(secret)]
    pub refresh_token: String,
}
