pub mod auth;
pub mod comment;
pub mod ticket;
