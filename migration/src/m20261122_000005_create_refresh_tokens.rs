//! Refresh tokens. Only a hash of each token is stored; tokens rotate on every use, and each
//! rotation chain (a "family", one per login) can be revoked as a whole when reuse is detected.

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
                    .table(RefreshTokens::Table)
                    .col(pk_uuid(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::UserId))
                    // SHA-256 of the token, hex. Unique: a presented token finds its row through
                    // this index, and two rows can never answer to the same token.
                    .col(char_len_uniq(RefreshTokens::TokenHash, 64))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(uuid_null(RefreshTokens::ParentId))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(string_len_null(RefreshTokens::UserAgent, 512))
                    .col(string_len_null(RefreshTokens::IpAddress, 45))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_user")
                            .from(RefreshTokens::Table, RefreshTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_refresh_tokens_parent")
                            .from(RefreshTokens::Table, RefreshTokens::ParentId)
                            .to(RefreshTokens::Table, RefreshTokens::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Revoking a whole family after reuse detection or logout.
        manager
            .create_index(index(
                "ix_refresh_tokens_family",
                RefreshTokens::Table,
                [RefreshTokens::FamilyId],
            ))
            .await?;
        // Revoking every token of a user when the account is locked or the password changes.
        manager
            .create_index(index(
                "ix_refresh_tokens_user",
                RefreshTokens::Table,
                [RefreshTokens::UserId],
            ))
            .await?;
        // The retention job removes expired tokens.
        manager
            .create_index(index(
                "ix_refresh_tokens_expires_at",
                RefreshTokens::Table,
                [RefreshTokens::ExpiresAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    TokenHash,
    FamilyId,
    ParentId,
    ExpiresAt,
    UsedAt,
    RevokedAt,
    CreatedAt,
    UserAgent,
    IpAddress,
}
