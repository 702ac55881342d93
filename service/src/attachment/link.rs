//! Short-lived links for moving an attachment's bytes: an upload link for the uploader, a
//! download link for one viewer. A link is the sealed (AES-256-GCM, data key) statement of
//! what it allows, for whom and until when, so it cannot be forged or altered, and it tells
//! nothing to whoever reads it.

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::Keyring;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const ASSOCIATED: &[u8] = b"attachment-link";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    #[serde(rename = "u")]
    Upload,
    #[serde(rename = "d")]
    Download,
}

/// What a link allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    #[serde(rename = "a")]
    pub attachment_id: Uuid,
    /// The only user the link works for.
    #[serde(rename = "u")]
    pub user_id: Uuid,
    /// That user's session epoch: ending their sessions ends their links.
    #[serde(rename = "s")]
    pub session_epoch: i32,
    #[serde(rename = "p")]
    pub purpose: Purpose,
    /// Unix seconds.
    #[serde(rename = "e")]
    pub expires: i64,
}

impl Link {
    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.expires, 0)
            .single()
            .unwrap_or_default()
    }
}

/// The link's token, for a URL path.
pub fn sign(keyring: &Keyring, link: &Link) -> String {
    let json = serde_json::to_vec(link).expect("a link serializes");
    B64.encode(keyring.seal(&json, ASSOCIATED))
}

/// The link behind `token` if it is genuine, for `purpose`, and not expired at `now`.
pub fn verify(
    keyring: &Keyring,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Option<Link> {
    let sealed = B64.decode(token).ok()?;
    let sealed = std::str::from_utf8(&sealed).ok()?;
    let json = keyring.open(sealed, ASSOCIATED).ok()?;
    let link: Link = serde_json::from_slice(&json).ok()?;
    (link.purpose == purpose && link.expires > now.timestamp()).then_some(link)
}
