pub mod auth;
pub mod comment;
pub mod organization;
pub mod sla;
pub mod stats;
pub mod ticket;
pub mod user;
pub mod webhook;
