//! Mentions: members of staff a comment names, by id (`mentionIds`) or as `@handle` in its body,
//! where a handle is the part of their email address before the `@`, or their name without
//! spaces (`@jane.doe`, `@JaneDoe`). Only staff mention, only staff who may read the ticket are
//! mentioned, and a handle that names no one is plain text.

use entity::enums::Role;
use entity::{organization_member, ticket, user};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait};
use uuid::Uuid;

use crate::actor::Actor;
use crate::{Error, Result, access};

/// Users one comment may name by id.
pub const MAX_MENTIONS: usize = 20;

/// The handles `@...` in `body`, lower-cased; an `@` inside a word (an email address) starts
/// none.
pub fn handles(body: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut previous: Option<char> = None;
    for (index, c) in body.char_indices() {
        if c == '@' && !previous.is_some_and(|p| p.is_alphanumeric() || p == '_') {
            let rest = &body[index + 1..];
            let handle: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .collect();
            let handle = handle.trim_end_matches(['.', '-']).to_lowercase();
            if !handle.is_empty() && !found.contains(&handle) {
                found.push(handle);
            }
        }
        previous = Some(c);
    }
    found
}

fn answers_to(account: &user::Model, handle: &str) -> bool {
    let local = account.email.split('@').next().unwrap_or_default();
    let name: String = account.name.split_whitespace().collect();
    let dotted = account
        .name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(".");
    [local, name.as_str(), dotted.as_str()]
        .iter()
        .any(|candidate| !candidate.is_empty() && candidate.eq_ignore_ascii_case(handle))
}

/// The staff `actor`'s comment on `ticket` mentions: `ids` (each must be staff who may read the
/// ticket, else `BAD_USER_INPUT` on `mentionIds`) and the handles of `body` that name such a
/// person; never the author. Clients mention no one.
pub async fn resolve(
    db: &impl ConnectionTrait,
    actor: &Actor,
    ticket: &ticket::Model,
    body: &str,
    ids: &[Uuid],
) -> Result<Vec<Uuid>> {
    const FIELD: &str = "mentionIds";
    if !ids.is_empty() && !actor.is_staff() {
        return Err(Error::invalid(FIELD, "only staff mention others"));
    }
    if ids.len() > MAX_MENTIONS {
        return Err(Error::invalid(
            FIELD,
            format!("at most {MAX_MENTIONS} people"),
        ));
    }
    let handles = if actor.is_staff() {
        handles(body)
    } else {
        Vec::new()
    };
    if ids.is_empty() && handles.is_empty() {
        return Ok(Vec::new());
    }
    // The staff who may read the ticket: everyone-seeing roles, and staff of its organization.
    let members = Query::select()
        .column(organization_member::Column::UserId)
        .from(organization_member::Entity)
        .and_where(organization_member::Column::OrganizationId.eq(ticket.organization_id))
        .to_owned();
    let staff = Condition::all()
        .add(user::Column::Role.is_in([Role::Agent, Role::Superagent, Role::Admin]))
        .add(
            Condition::any()
                .add(user::Column::Role.is_in([Role::Superagent, Role::Admin]))
                .add(user::Column::Id.in_subquery(members)),
        );
    let readers: Vec<Uuid> = crate::actor::accounts(db, staff.clone())
        .await?
        .into_iter()
        .filter(|account| access::can_read(account, ticket))
        .map(|account| account.user_id)
        .collect();
    if let Some(stranger) = ids.iter().find(|id| !readers.contains(id)) {
        return Err(Error::invalid(
            FIELD,
            format!("{stranger} is not a member of staff who may read this ticket"),
        ));
    }
    let mut mentioned: Vec<Uuid> = ids.to_vec();
    if !handles.is_empty() {
        use sea_orm::{EntityTrait, QueryFilter};
        let named = user::Entity::find()
            .filter(staff)
            .filter(user::Column::Id.is_in(readers))
            .all(db)
            .await?;
        for handle in &handles {
            mentioned.extend(
                named
                    .iter()
                    .filter(|account| answers_to(account, handle))
                    .map(|account| account.id),
            );
        }
    }
    mentioned.retain(|id| *id != actor.user_id);
    mentioned.sort();
    mentioned.dedup();
    Ok(mentioned)
}

#[cfg(test)]
mod tests {
    use super::handles;

    #[test]
    fn handles_start_at_an_at_sign_that_begins_a_word() {
        assert_eq!(
            handles("@jane.doe please look; cc @Bob, not mail@example.com or @."),
            ["jane.doe", "bob"]
        );
        assert_eq!(handles("(@agent_a) and @agent_a again"), ["agent_a"]);
        assert!(handles("no one here").is_empty());
    }
}
