use async_graphql::{ID, Interface};

use super::attachment::Attachment;
use super::comment::Comment;
use super::organization::Organization;
use super::ticket::Ticket;
use super::user::User;

/// Anything with a global ID that `node(id)` can fetch again.
#[derive(Interface, Clone)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "The global ID: opaque, stable, and accepted by `node(id)`."
))]
pub enum Node {
    Ticket(Ticket),
    Comment(Comment),
    User(User),
    Organization(Organization),
    Attachment(Attachment),
}
