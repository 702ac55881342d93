//! Idempotency keys: a client retrying a create with the same key gets the original result
//! instead of a duplicate.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;
use crate::m20261122_000001_create_users_and_organizations::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(IdempotencyKeys::UserId))
                    .col(string_len(IdempotencyKeys::Operation, 32))
                    .col(string_len(IdempotencyKeys::Key, 255))
                    // SHA-256 of the request's input: the same key with other input is refused.
                    .col(char_len(IdempotencyKeys::RequestHash, 64))
                    .col(uuid(IdempotencyKeys::ResourceId))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    // One row per user, operation and key; a concurrent retry runs into this
                    // key instead of creating a second resource.
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::Operation)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_idempotency_keys_user")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Keys expire after 24 hours; the retention job deletes by age.
        manager
            .create_index(index(
                "ix_idempotency_keys_created_at",
                IdempotencyKeys::Table,
                [IdempotencyKeys::CreatedAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    Operation,
    Key,
    RequestHash,
    ResourceId,
    CreatedAt,
}
