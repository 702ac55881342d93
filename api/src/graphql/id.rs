//! Opaque global IDs (`Node.id`) and connection cursors.
//!
//! A global ID is base64url of `Type:uuid`, so `node(id)` can tell which table to read and
//! clients never build IDs themselves. Cursors are base64url of a JSON position.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use service::page::Position;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Ticket,
    Comment,
    User,
    Organization,
    Webhook,
    WebhookDelivery,
    SlaPolicy,
    BusinessCalendar,
    Attachment,
    Notification,
    /// The same notice as administrators see its email delivery.
    NotificationDelivery,
    Escalation,
    Session,
    ApiToken,
    AuditEntry,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ticket => "Ticket",
            Kind::Comment => "Comment",
            Kind::User => "User",
            Kind::Organization => "Organization",
            Kind::Webhook => "Webhook",
            Kind::WebhookDelivery => "WebhookDelivery",
            Kind::SlaPolicy => "SlaPolicy",
            Kind::BusinessCalendar => "BusinessCalendar",
            Kind::Attachment => "Attachment",
            Kind::Notification => "Notification",
            Kind::NotificationDelivery => "NotificationDelivery",
            Kind::Escalation => "Escalation",
            Kind::Session => "Session",
            Kind::ApiToken => "ApiToken",
            Kind::AuditEntry => "AuditEntry",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "Ticket" => Kind::Ticket,
            "Comment" => Kind::Comment,
            "User" => Kind::User,
            "Organization" => Kind::Organization,
            "Webhook" => Kind::Webhook,
            "WebhookDelivery" => Kind::WebhookDelivery,
            "SlaPolicy" => Kind::SlaPolicy,
            "BusinessCalendar" => Kind::BusinessCalendar,
            "Attachment" => Kind::Attachment,
            "Notification" => Kind::Notification,
            "NotificationDelivery" => Kind::NotificationDelivery,
            "Escalation" => Kind::Escalation,
            "Session" => Kind::Session,
            "ApiToken" => Kind::ApiToken,
            "AuditEntry" => Kind::AuditEntry,
            _ => return None,
        })
    }
}

pub fn encode(kind: Kind, id: Uuid) -> async_graphql::ID {
    async_graphql::ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// The kind and UUID behind a global ID, or `None` when it is not one of ours.
pub fn decode(id: &str) -> Option<(Kind, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(id.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (kind, uuid) = text.split_once(':')?;
    Some((Kind::parse(kind)?, Uuid::parse_str(uuid).ok()?))
}

/// The UUID of a global ID that must be of `kind`; `BAD_USER_INPUT` on `field` otherwise.
pub fn expect(kind: Kind, id: &async_graphql::ID, field: &'static str) -> service::Result<Uuid> {
    match decode(id) {
        Some((found, uuid)) if found == kind => Ok(uuid),
        _ => Err(service::Error::invalid(
            field,
            format!("is not a valid {} ID", kind.name()),
        )),
    }
}

pub fn cursor(position: &Position) -> String {
    // Serializing a plain struct of a number or time and a UUID cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

pub fn parse_cursor(cursor: &str, field: &'static str) -> service::Result<Position> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| service::Error::invalid(field, "is not a valid cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_foreign_ones_are_refused() {
        let uuid = Uuid::now_v7();
        let id = encode(Kind::Ticket, uuid);
        assert_eq!(decode(&id), Some((Kind::Ticket, uuid)));
        assert!(expect(Kind::User, &id, "userId").is_err());
        for bad in ["", "not-base64!", "VGlja2V0Om5vcGU", &uuid.to_string()] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
