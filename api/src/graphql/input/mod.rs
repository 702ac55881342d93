pub mod auth;
pub mod comment;
pub mod organization;
pub mod ticket;
pub mod user;
pub mod webhook;
