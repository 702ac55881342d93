//! Anonymisation of exported records: names, emails, phone numbers, addresses and free text
//! are replaced by pseudonyms made from a key drawn for the export and never written. The
//! same person (or organization) gets the same pseudonym everywhere, because it is made from
//! their id; the same text gets the same replacement. None of the replaced values is kept;
//! ids, numbers, times and statuses stay, so the data keeps its shape.

use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const FIRST: &[&str] = &[
    "Alex", "Blair", "Casey", "Dana", "Eden", "Finley", "Gray", "Harper", "Indy", "Jordan", "Kai",
    "Logan", "Morgan", "Noor", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Taylor", "Umi",
    "Val", "Wren", "Yael", "Zion", "Ari", "Bo", "Cam", "Drew", "Emery", "Frankie", "Hollis",
];
const LAST: &[&str] = &[
    "Abbott",
    "Barros",
    "Calder",
    "Dorsey",
    "Ellery",
    "Fontaine",
    "Garber",
    "Haskins",
    "Ingram",
    "Jessup",
    "Kestrel",
    "Lindqvist",
    "Marsh",
    "Nakamura",
    "Okafor",
    "Pell",
    "Quarry",
    "Rasmus",
    "Sterling",
    "Thorne",
    "Upton",
    "Vance",
    "Whitlock",
    "Yardley",
    "Zeller",
    "Ashdown",
    "Brandt",
    "Corwin",
    "Delacroix",
    "Eastman",
    "Fairley",
    "Galloway",
];
const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
];
const STREETS: &[&str] = &[
    "Elm", "Cedar", "Harbor", "Mill", "Orchard", "Station", "Park", "Lake",
];
const CITIES: &[&str] = &[
    "Northvale",
    "Easton",
    "Westbury",
    "Southport",
    "Midtown",
    "Riverside",
];

/// History fields whose values are ids, enumerations or times, not free text.
const PLAIN_HISTORY_FIELDS: &[&str] = &[
    "status",
    "assignee",
    "priority",
    "category",
    "first_response_at",
    "created",
    "deleted",
];

pub struct Anonymizer {
    key: [u8; 32],
    /// A password hash no one knows the password of.
    unusable_hash: String,
}

impl Anonymizer {
    pub async fn new() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let unusable_hash =
            service::password::hash(&super::super::backup::database::hex(&secret)).await?;
        Ok(Self { key, unusable_hash })
    }

    fn code(&self, domain: &str, value: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        hasher.update(domain.as_bytes());
        hasher.update([0]);
        hasher.update(value.as_bytes());
        hasher.finalize().into()
    }

    fn pick<'a>(list: &[&'a str], byte: u8) -> &'a str {
        list[usize::from(byte) % list.len()]
    }

    fn tag(code: &[u8; 32]) -> String {
        code[8..12].iter().map(|b| format!("{b:02x}")).collect()
    }

    fn person(&self, id: &str) -> (String, String) {
        let code = self.code("person", id);
        let (first, last) = (Self::pick(FIRST, code[0]), Self::pick(LAST, code[1]));
        (
            format!("{first} {last}"),
            format!(
                "{}.{}.{}@example.invalid",
                first.to_lowercase(),
                last.to_lowercase(),
                Self::tag(&code)
            ),
        )
    }

    fn organization(&self, id: &str) -> (String, String) {
        let code = self.code("organization", id);
        let tag = Self::tag(&code);
        (
            format!(
                "{} {} {tag}",
                Self::pick(LAST, code[0]),
                ["Ltd", "Group", "Works", "Partners"][usize::from(code[1]) % 4]
            ),
            format!("contact.{tag}@example.invalid"),
        )
    }

    fn phone(&self, id: &str) -> String {
        let code = self.code("phone", id);
        format!("+1 555 01{:02}", code[0] % 100)
    }

    fn address(&self, id: &str) -> String {
        let code = self.code("address", id);
        format!(
            "{} {} Street, {}",
            1 + u16::from(code[0]) % 200,
            Self::pick(STREETS, code[1]),
            Self::pick(CITIES, code[2])
        )
    }

    /// Words of about the length of `original`, the same for the same text.
    pub fn text(&self, original: &str) -> String {
        let target = original.chars().count().max(1);
        let mut code = self.code("text", original);
        let mut out = String::with_capacity(target + 12);
        let mut i = 0;
        while out.len() < target {
            if i == code.len() {
                code = Sha256::digest(code).into();
                i = 0;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(Self::pick(WORDS, code[i]));
            i += 1;
        }
        let mut chars = out.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => out,
        }
    }

    fn replace_text(&self, data: &mut Map<String, Value>, field: &str) {
        if let Some(Value::String(text)) = data.get(field) {
            let replaced = self.text(text);
            data.insert(field.into(), Value::String(replaced));
        }
    }

    fn set(data: &mut Map<String, Value>, field: &str, value: String) {
        if data.get(field).is_some_and(|v| !v.is_null()) {
            data.insert(field.into(), Value::String(value));
        }
    }

    /// Replaces what identifies people in a record of `entity`.
    pub fn record(&self, entity: &str, data: &mut Map<String, Value>) {
        let id = data
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match entity {
            "users" => {
                let (name, email) = self.person(&id);
                data.insert("name".into(), Value::String(name));
                data.insert("email".into(), Value::String(email));
                data.insert(
                    "password_hash".into(),
                    Value::String(self.unusable_hash.clone()),
                );
                self.replace_text(data, "lock_reason");
            }
            "organizations" => {
                let (name, email) = self.organization(&id);
                data.insert("name".into(), Value::String(name));
                Self::set(data, "email", email);
                Self::set(data, "phone", self.phone(&id));
                Self::set(data, "address", self.address(&id));
                self.replace_text(data, "description");
            }
            "tickets" => {
                self.replace_text(data, "title");
                self.replace_text(data, "description");
            }
            "comments" => self.replace_text(data, "body"),
            "ticket_history" => {
                let plain = data
                    .get("field")
                    .and_then(Value::as_str)
                    .is_some_and(|f| PLAIN_HISTORY_FIELDS.contains(&f));
                if !plain {
                    self.replace_text(data, "old_value");
                    self.replace_text(data, "new_value");
                }
            }
            "audit_log" => {
                // Descriptions and values name people and quote what they changed.
                let action = data.get("action").cloned().unwrap_or(Value::Null);
                data.insert("description".into(), action);
                for field in ["ip_address", "user_agent", "old_values", "new_values"] {
                    data.insert(field.into(), Value::Null);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anonymizer() -> Anonymizer {
        Anonymizer {
            key: [7; 32],
            unusable_hash: "hash".into(),
        }
    }

    #[test]
    fn a_person_keeps_one_pseudonym_and_loses_the_original() {
        let a = anonymizer();
        let mut first = Map::new();
        first.insert("id".into(), "u1".into());
        first.insert("name".into(), "Ann Original".into());
        first.insert("email".into(), "ann@original.example".into());
        first.insert("password_hash".into(), "$argon2id$secret".into());
        let mut again = first.clone();
        a.record("users", &mut first);
        a.record("users", &mut again);
        assert_eq!(first, again);
        let text = serde_json::to_string(&first).unwrap();
        for original in ["Ann Original", "ann@original.example", "$argon2id$secret"] {
            assert!(!text.contains(original), "{text}");
        }
        let replaced = a.text("A body of some length that must go");
        assert_eq!(replaced, a.text("A body of some length that must go"));
        assert!(!replaced.contains("body"));
        assert!(replaced.len() >= "A body of some length that must go".len());
    }
}
