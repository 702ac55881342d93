use async_graphql::{Context, Object, Result};
use service::webhook::UrlPolicy;

use crate::events::EventBus;
use crate::graphql::context::{actor, client_info, service_db};
use crate::graphql::enums::EventKind;
use crate::graphql::id::{Kind, encode, expect};
use crate::graphql::input::webhook::{
    WebhookCreateInput, WebhookDeleteInput, WebhookDeliveryRedeliverInput, WebhookReplayInput,
    WebhookRotateSecretInput, WebhookTestInput, WebhookUpdateInput,
};
use crate::graphql::object::payload::{WebhookDeliveryPayload, WebhookPayload, user_errors};
use crate::graphql::object::webhook::{
    Webhook, WebhookDeletePayload, WebhookReplayPayload, WebhookSecretPayload,
};

#[derive(Default)]
pub struct WebhookMutation;

fn policy(ctx: &Context<'_>) -> UrlPolicy {
    ctx.data_opt::<UrlPolicy>().copied().unwrap_or_default()
}

fn keyring<'a>(ctx: &'a Context<'_>) -> service::Result<&'a service::crypto::Keyring> {
    ctx.data::<std::sync::Arc<service::crypto::Keyring>>()
        .map(|keyring| keyring.as_ref())
        .map_err(|_| service::Error::Internal("the schema has no data keyring".into()))
}

fn wake(ctx: &Context<'_>) {
    if let Ok(bus) = ctx.data::<EventBus>() {
        bus.wake_deliveries();
    }
}

fn secret_payload(
    result: service::Result<(entity::webhook::Model, String)>,
) -> Result<WebhookSecretPayload> {
    Ok(match result {
        Ok((hook, secret)) => WebhookSecretPayload {
            webhook: Some(Webhook(hook)),
            secret: Some(secret),
            user_errors: vec![],
        },
        Err(err) => WebhookSecretPayload {
            user_errors: user_errors(err)?,
            ..Default::default()
        },
    })
}

#[Object]
impl WebhookMutation {
    /// Registers an endpoint (administrators). The signing secret is in the payload, once.
    async fn webhook_create(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint to register.")] input: WebhookCreateInput,
    ) -> Result<WebhookSecretPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let new = service::webhook::NewWebhook {
                url: input.url,
                events: EventKind::names(input.events.unwrap_or_default()),
                description: input.description,
                organization_id: input
                    .organization_id
                    .as_ref()
                    .map(|id| expect(Kind::Organization, id, "organizationId"))
                    .transpose()?,
            };
            service::webhook::create(
                service_db(ctx)?,
                viewer,
                new,
                policy(ctx),
                keyring(ctx)?,
                &client_info(ctx),
            )
            .await
        };
        secret_payload(result.await)
    }

    /// Changes an endpoint's URL, events, description, or enables/disables it.
    async fn webhook_update(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint and its new values.")] input: WebhookUpdateInput,
    ) -> Result<WebhookPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Webhook, &input.id, "id")?;
            let changes = service::webhook::WebhookChanges {
                url: input.url,
                events: input.events.map(EventKind::names),
                description: input.description,
                enabled: input.enabled,
            };
            service::webhook::update(
                service_db(ctx)?,
                viewer,
                id,
                changes,
                policy(ctx),
                &client_info(ctx),
            )
            .await
        };
        let result = result.await;
        if result.is_ok() {
            wake(ctx);
        }
        WebhookPayload::from_result(result)
    }

    /// Deletes an endpoint and its deliveries.
    async fn webhook_delete(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint to delete.")] input: WebhookDeleteInput,
    ) -> Result<WebhookDeletePayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let uuid = expect(Kind::Webhook, &input.id, "id")?;
            service::webhook::delete(service_db(ctx)?, viewer, uuid, &client_info(ctx)).await?;
            Ok(uuid)
        };
        Ok(match result.await {
            Ok(uuid) => WebhookDeletePayload {
                deleted_id: Some(encode(Kind::Webhook, uuid)),
                user_errors: vec![],
            },
            Err(err) => WebhookDeletePayload {
                deleted_id: None,
                user_errors: user_errors(err)?,
            },
        })
    }

    /// A new signing secret; the old one keeps signing alongside it for 24 hours, both
    /// signatures in `webhook-signature`.
    async fn webhook_rotate_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint whose secret to replace.")] input: WebhookRotateSecretInput,
    ) -> Result<WebhookSecretPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Webhook, &input.id, "id")?;
            service::webhook::rotate_secret(service_db(ctx)?, viewer, id, keyring(ctx)?).await
        };
        secret_payload(result.await)
    }

    /// Queues a `webhook.ping` delivery to the endpoint.
    async fn webhook_test(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint to test.")] input: WebhookTestInput,
    ) -> Result<WebhookDeliveryPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Webhook, &input.id, "id")?;
            service::webhook::test(service_db(ctx)?, viewer, id).await
        };
        let payload = WebhookDeliveryPayload::from_result(result.await)?;
        wake(ctx);
        Ok(payload)
    }

    /// Sends a delivery again (same `webhook-id` and body), as a new delivery.
    async fn webhook_delivery_redeliver(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery to send again.")] input: WebhookDeliveryRedeliverInput,
    ) -> Result<WebhookDeliveryPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::WebhookDelivery, &input.id, "id")?;
            service::webhook::redeliver(service_db(ctx)?, viewer, id).await
        };
        let payload = WebhookDeliveryPayload::from_result(result.await)?;
        wake(ctx);
        Ok(payload)
    }

    /// Queues again, in order, every event since `since` the endpoint subscribes to (at most
    /// 10,000), each with its original `webhook-id`.
    async fn webhook_replay(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint and from when to replay.")] input: WebhookReplayInput,
    ) -> Result<WebhookReplayPayload> {
        let viewer = &actor(ctx)?;
        let result = async {
            let id = expect(Kind::Webhook, &input.id, "id")?;
            service::webhook::replay(service_db(ctx)?, viewer, id, input.since.0).await
        };
        let payload = match result.await {
            Ok(queued) => WebhookReplayPayload {
                queued: Some(queued),
                user_errors: vec![],
            },
            Err(err) => WebhookReplayPayload {
                queued: None,
                user_errors: user_errors(err)?,
            },
        };
        wake(ctx);
        Ok(payload)
    }
}
