use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::graphql::context::{actor, db};
use crate::graphql::enums::{NotificationChannel, NotificationKind};
use crate::graphql::id::{Kind, expect};
use crate::graphql::object::notification::NotificationPreference;
use crate::graphql::object::payload::{UserError, user_errors};

#[derive(Default)]
pub struct NotificationMutation;

/// The notices to mark read.
#[derive(InputObject)]
pub struct NotificationMarkReadInput {
    /// Your notices to mark read (at most 100); others' ids change nothing.
    pub ids: Vec<ID>,
}

/// The result of `notificationMarkRead` or `notificationMarkAllRead`.
#[derive(SimpleObject, Clone, Default)]
pub struct NotificationMarkReadPayload {
    /// How many were unread and are read now.
    pub marked: u64,
    /// Your unread notices left.
    pub unread_count: u64,
    /// What was wrong with the input, field by field; empty when the notices were marked.
    pub user_errors: Vec<UserError>,
}

/// Whether to hear one kind of notice on one channel.
#[derive(InputObject)]
pub struct NotificationPreferenceInput {
    /// The kind of notice.
    pub kind: NotificationKind,
    /// The channel it comes on.
    pub channel: NotificationChannel,
    /// True to hear this kind on this channel, false to stop.
    pub enabled: bool,
}

/// Changes to your notification preferences.
#[derive(InputObject)]
pub struct NotificationPreferencesUpdateInput {
    /// The preferences to set; the kinds and channels not listed stay as they are.
    pub preferences: Vec<NotificationPreferenceInput>,
}

/// The result of `notificationPreferencesUpdate`.
#[derive(SimpleObject, Clone, Default)]
pub struct NotificationPreferencesUpdatePayload {
    /// All your preferences after the change.
    pub preferences: Vec<NotificationPreference>,
    /// What was wrong with the input, field by field; empty when the change was made.
    pub user_errors: Vec<UserError>,
}

async fn marked(
    ctx: &Context<'_>,
    ids: Option<Vec<uuid::Uuid>>,
) -> Result<NotificationMarkReadPayload> {
    let viewer = actor(ctx)?;
    let db = db(ctx)?;
    match service::notification::mark_read(db, viewer.user_id, ids.as_deref()).await {
        Ok(marked) => Ok(NotificationMarkReadPayload {
            marked,
            unread_count: service::notification::unread_count(db, viewer.user_id)
                .await
                .map_err(crate::graphql::error::gql)?,
            user_errors: vec![],
        }),
        Err(err) => Ok(NotificationMarkReadPayload {
            user_errors: user_errors(err)?,
            ..Default::default()
        }),
    }
}

#[Object]
impl NotificationMutation {
    /// Marks some of your notices read.
    async fn notification_mark_read(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The notices to mark read.")] input: NotificationMarkReadInput,
    ) -> Result<NotificationMarkReadPayload> {
        let ids: service::Result<Vec<uuid::Uuid>> = input
            .ids
            .iter()
            .map(|id| expect(Kind::Notification, id, "ids"))
            .collect();
        match ids {
            Ok(ids) => marked(ctx, Some(ids)).await,
            Err(err) => Ok(NotificationMarkReadPayload {
                user_errors: user_errors(err)?,
                ..Default::default()
            }),
        }
    }

    /// Marks all your notices read.
    async fn notification_mark_all_read(
        &self,
        ctx: &Context<'_>,
    ) -> Result<NotificationMarkReadPayload> {
        marked(ctx, None).await
    }

    /// Turns kinds of notices on or off, per channel.
    async fn notification_preferences_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The preferences to change.")] input: NotificationPreferencesUpdateInput,
    ) -> Result<NotificationPreferencesUpdatePayload> {
        let viewer = actor(ctx)?;
        let db = db(ctx)?;
        let changes: Vec<_> = input
            .preferences
            .iter()
            .map(|p| (p.kind.into(), p.channel.into(), p.enabled))
            .collect();
        if let Err(err) = service::notification::set_preferences(db, viewer.user_id, &changes).await
        {
            return Ok(NotificationPreferencesUpdatePayload {
                user_errors: user_errors(err)?,
                ..Default::default()
            });
        }
        let preferences = service::notification::preferences(db, viewer.user_id)
            .await
            .map_err(crate::graphql::error::gql)?
            .into_iter()
            .map(|(kind, channel, enabled)| NotificationPreference {
                kind: kind.into(),
                channel: channel.into(),
                enabled,
            })
            .collect();
        Ok(NotificationPreferencesUpdatePayload {
            preferences,
            user_errors: vec![],
        })
    }
}
