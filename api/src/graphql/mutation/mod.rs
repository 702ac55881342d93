mod attachment;
mod auth;
mod comment;
mod notification;
mod organization;
mod sla;
mod ticket;
mod user;
mod webhook;

use async_graphql::MergedObject;

/// Every mutation, merged from one object per area.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    auth::AuthMutation,
    ticket::TicketMutation,
    comment::CommentMutation,
    organization::OrganizationMutation,
    user::UserMutation,
    webhook::WebhookMutation,
    sla::SlaMutation,
    attachment::AttachmentMutation,
    notification::NotificationMutation,
);
