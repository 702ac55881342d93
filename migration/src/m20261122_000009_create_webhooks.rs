//! Webhooks: the endpoints outside systems register, and one delivery row per event and
//! endpoint. Deliveries are created by the relay in the transaction that publishes the event,
//! and persisted with their schedule, so a restart resumes them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{index, one_of};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .col(uuid(Webhooks::Id).primary_key())
                    .col(string_len(Webhooks::Url, 2048))
                    .col(string_len(Webhooks::Description, 500).default(""))
                    // A JSON array of event kinds; empty means every kind.
                    .col(json(Webhooks::Events))
                    // Only the events of this organization; null means all.
                    .col(uuid_null(Webhooks::OrganizationId))
                    // `whsec_...`; the previous one keeps signing until it expires.
                    .col(string_len(Webhooks::Secret, 100))
                    .col(string_len_null(Webhooks::PreviousSecret, 100))
                    .col(timestamp_with_time_zone_null(
                        Webhooks::PreviousSecretExpiresAt,
                    ))
                    .col(boolean(Webhooks::Enabled).default(true))
                    .col(string_len_null(Webhooks::DisabledReason, 200))
                    .col(timestamp_with_time_zone_null(Webhooks::DisabledAt))
                    // Start of the current run of failed attempts; null after a success.
                    .col(timestamp_with_time_zone_null(Webhooks::FailingSince))
                    .col(uuid_null(Webhooks::CreatedBy))
                    .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                    .col(timestamp_with_time_zone(Webhooks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhooks_organization")
                            .from(Webhooks::Table, Webhooks::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhooks_created_by")
                            .from(Webhooks::Table, Webhooks::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(uuid(WebhookDeliveries::WebhookId))
                    // The `webhook-id` header: the same for every attempt and redelivery of
                    // one event to one endpoint.
                    .col(string_len(WebhookDeliveries::MessageId, 80))
                    // Null for `webhook.ping`.
                    .col(big_integer_null(WebhookDeliveries::EventId))
                    .col(uuid_null(WebhookDeliveries::TicketId))
                    .col(string_len(WebhookDeliveries::Kind, 40))
                    // The exact bytes every attempt sends.
                    .col(text(WebhookDeliveries::Body))
                    .col(string_len(WebhookDeliveries::Status, 16).check(one_of(
                        WebhookDeliveries::Status,
                        &["PENDING", "SUCCEEDED", "FAILED"],
                    )))
                    // Attempts made so far.
                    .col(integer(WebhookDeliveries::Attempt).default(0))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::NextAttemptAt,
                    ))
                    // A worker holds the delivery until then; a crashed worker's hold expires.
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::LockedUntil,
                    ))
                    .col(integer_null(WebhookDeliveries::ResponseStatus))
                    .col(integer_null(WebhookDeliveries::DurationMs))
                    .col(string_len_null(WebhookDeliveries::Error, 500))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::LastAttemptAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_webhook")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                            .to(Webhooks::Table, Webhooks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The workers' queue: what is due.
        manager
            .create_index(index(
                "ix_webhook_deliveries_due",
                WebhookDeliveries::Table,
                [WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
            ))
            .await?;
        // An endpoint's deliveries, newest first, and the per-ticket order.
        manager
            .create_index(index(
                "ix_webhook_deliveries_webhook",
                WebhookDeliveries::Table,
                [WebhookDeliveries::WebhookId, WebhookDeliveries::CreatedAt],
            ))
            .await?;
        manager
            .create_index(index(
                "ix_webhook_deliveries_ticket",
                WebhookDeliveries::Table,
                [
                    WebhookDeliveries::WebhookId,
                    WebhookDeliveries::TicketId,
                    WebhookDeliveries::EventId,
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Webhooks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    Url,
    Description,
    Events,
    OrganizationId,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    Enabled,
    DisabledReason,
    DisabledAt,
    FailingSince,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    MessageId,
    EventId,
    TicketId,
    Kind,
    Body,
    Status,
    Attempt,
    NextAttemptAt,
    LockedUntil,
    ResponseStatus,
    DurationMs,
    Error,
    CreatedAt,
    LastAttemptAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
