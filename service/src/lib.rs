//! The helpdesk domain: tickets, users, organizations, seeding and health.
//!
//! Every rule that must hold for every entry point (GraphQL, the CLI, background jobs) lives
//! here, so a new entry point cannot skip it. This crate knows SeaORM, Redis and tokio, and
//! nothing of GraphQL or HTTP. Functions take `&impl ConnectionTrait`, so they work the same on a
//! pooled connection and inside a transaction.

pub mod access;
pub mod actor;
pub mod api_token;
pub mod attachment;
pub mod audit;
pub mod auth;
pub mod comment;
pub mod crypto;
pub mod db;
mod decode;
pub mod error;
pub mod event;
pub mod health;
pub mod idempotency;
pub mod jobs;
pub mod lifecycle;
pub mod mention;
pub mod notification;
pub mod organization;
pub mod page;
pub mod password;
pub mod password_reset;
pub mod redis;
pub mod seed;
pub mod session;
pub mod sla;
pub mod stats;
pub mod throttle;
pub mod ticket;
pub mod trace;
pub mod two_factor;
pub mod user;
pub mod webhook;

pub use error::{Error, ErrorCode, Result};
pub use sea_orm;
