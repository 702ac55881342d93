//! W3C trace context (`traceparent`) of the request that made an event, kept with the event and
//! with the webhook deliveries and email notices made from it, so that their sending joins the
//! request's trace.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
}

#[derive(DeriveIden)]
enum TraceParent {
    TraceParent,
}

fn tables() -> [DynIden; 3] {
    [
        OutboxEvents::Table.into_iden(),
        WebhookDeliveries::Table.into_iden(),
        Notifications::Table.into_iden(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        // `00-<32 hex>-<16 hex>-<2 hex>`: 55 characters in version 00.
                        .add_column(string_len_null(TraceParent::TraceParent, 64))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(TraceParent::TraceParent)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
