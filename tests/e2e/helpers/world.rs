//! Fixtures: the cast of users, organizations and tickets access tests run against.

use sea_orm::{DatabaseConnection, EntityTrait};

/// Makes an organization, a client in it, and returns (organization id, client id).
pub async fn organization_with_client(
    db: &DatabaseConnection,
    name: &str,
) -> (uuid::Uuid, uuid::Uuid) {
    let org = service::organization::create(
        db,
        service::organization::NewOrganization {
            name: name.to_string(),
            ..Default::default()
        },
    )
    .await
    .expect("organization");
    let client = service::user::create(
        db,
        service::user::NewUser {
            email: format!("client@{}.example", name.to_lowercase().replace(' ', "-")),
            name: format!("Client of {name}"),
            password: "a long enough password".into(),
            role: entity::enums::Role::Client,
            is_approved: true,
        },
    )
    .await
    .expect("client");
    service::organization::add_member(db, org.id, client.id)
        .await
        .expect("membership");
    (org.id, client.id)
}

pub fn new_ticket(
    organization_id: uuid::Uuid,
    requester_id: uuid::Uuid,
    title: &str,
) -> service::ticket::NewTicket {
    service::ticket::NewTicket {
        title: title.to_string(),
        description: format!("{title}, in detail."),
        priority: entity::enums::TicketPriority::Medium,
        category: entity::enums::TicketCategory::Technical,
        requester_id,
        organization_id,
    }
}

/// The password of every user the fixtures create.
pub const PASSWORD: &str = "correct horse battery staple";

/// A cast for access tests: two organizations, staff of every role, clients in each, and one
/// ticket per organization.
pub struct World {
    pub org_a: uuid::Uuid,
    pub org_b: uuid::Uuid,
    pub admin: uuid::Uuid,
    pub superagent: uuid::Uuid,
    /// An agent of organization A.
    pub agent_a: uuid::Uuid,
    /// An agent of organization B.
    pub agent_b: uuid::Uuid,
    /// A client of A who requested `ticket_a`.
    pub client_a: uuid::Uuid,
    /// Another client of A.
    pub client_a2: uuid::Uuid,
    pub client_b: uuid::Uuid,
    pub ticket_a: uuid::Uuid,
    pub ticket_b: uuid::Uuid,
}

pub fn email_of(name: &str) -> String {
    format!("{name}@world.example")
}

impl World {
    pub async fn build(db: &DatabaseConnection) -> Self {
        use entity::enums::Role;
        let hash = service::password::hash(PASSWORD).await.expect("hash");
        let org = |name: &str| {
            let name = name.to_string();
            async move {
                service::organization::create(
                    db,
                    service::organization::NewOrganization {
                        name,
                        ..Default::default()
                    },
                )
                .await
                .expect("organization")
                .id
            }
        };
        let org_a = org("Org A").await;
        let org_b = org("Org B").await;
        let person = |name: &'static str, role: Role, orgs: Vec<uuid::Uuid>| {
            let hash = hash.clone();
            async move {
                let user =
                    service::user::insert(db, email_of(name), name.to_string(), hash, role, true)
                        .await
                        .expect("user");
                for org in orgs {
                    service::organization::add_member(db, org, user.id)
                        .await
                        .expect("member");
                }
                user.id
            }
        };
        let admin = person("admin", Role::Admin, vec![]).await;
        let superagent = person("superagent", Role::Superagent, vec![]).await;
        let agent_a = person("agent_a", Role::Agent, vec![org_a]).await;
        let agent_b = person("agent_b", Role::Agent, vec![org_b]).await;
        let client_a = person("client_a", Role::Client, vec![org_a]).await;
        let client_a2 = person("client_a2", Role::Client, vec![org_a]).await;
        let client_b = person("client_b", Role::Client, vec![org_b]).await;
        let ticket_a = service::ticket::create(
            db,
            Some(client_a),
            new_ticket(org_a, client_a, "Ticket of A"),
        )
        .await
        .expect("ticket")
        .id;
        let ticket_b = service::ticket::create(
            db,
            Some(client_b),
            new_ticket(org_b, client_b, "Ticket of B"),
        )
        .await
        .expect("ticket")
        .id;
        World {
            org_a,
            org_b,
            admin,
            superagent,
            agent_a,
            agent_b,
            client_a,
            client_a2,
            client_b,
            ticket_a,
            ticket_b,
        }
    }
}

/// The service-level actor of a user, as a request by them would see it.
pub async fn actor_of(db: &DatabaseConnection, user_id: uuid::Uuid) -> service::actor::Actor {
    let user = entity::user::Entity::find_by_id(user_id)
        .one(db)
        .await
        .expect("query")
        .expect("user");
    service::auth::actor_for_user(db, user.id)
        .await
        .expect("actor")
}
