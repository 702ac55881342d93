//! One-click unsubscribe (RFC 8058): every mail carries a link that turns its kind of notice
//! off by email for its recipient, without signing in. The link is the sealed (data key)
//! statement of whose preference it changes and which, so it cannot be forged or pointed at
//! someone else; it only ever turns a kind off, so it need not expire.

use base64::Engine;
use entity::enums::{NotificationChannel, NotificationKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Result;
use crate::crypto::Keyring;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const ASSOCIATED: &[u8] = b"notification-unsubscribe";

/// Whose preference an unsubscribe link turns off, and which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    #[serde(rename = "u")]
    pub user_id: Uuid,
    #[serde(rename = "k")]
    pub kind: NotificationKind,
    #[serde(rename = "c")]
    pub channel: NotificationChannel,
}

/// The path of an unsubscribe link.
pub fn path(token: &str) -> String {
    format!("/notifications/unsubscribe/{token}")
}

pub fn sign(keyring: &Keyring, unsubscribe: &Unsubscribe) -> String {
    let json = serde_json::to_vec(unsubscribe).expect("an unsubscribe link serializes");
    B64.encode(keyring.seal(&json, ASSOCIATED))
}

/// What `token` turns off, when it is genuine.
pub fn verify(keyring: &Keyring, token: &str) -> Option<Unsubscribe> {
    let sealed = B64.decode(token).ok()?;
    let sealed = std::str::from_utf8(&sealed).ok()?;
    let json = keyring.open(sealed, ASSOCIATED).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Turns the kind off on the channel for the user.
pub async fn apply(db: &impl sea_orm::ConnectionTrait, unsubscribe: &Unsubscribe) -> Result<()> {
    super::set_preferences(
        db,
        unsubscribe.user_id,
        &[(unsubscribe.kind, unsubscribe.channel, false)],
    )
    .await
}
