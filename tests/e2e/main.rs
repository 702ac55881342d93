//! End-to-end tests: the real server on a random port, a fresh migrated database per test
//! (a temporary SQLite file, or a new PostgreSQL database when `HELPDESK_TEST_DATABASE_URL` is
//! set), real HTTP clients, and the real `helpdesk` binary for the CLI.

mod helpers;

mod access;
mod admin;
mod api_tokens;
mod attachments;
mod audit;
mod auth;
mod backups;
mod browser;
mod budget;
mod clamd;
mod cli;
mod constraints;
mod deploy;
mod endpoint;
mod events;
mod idempotency;
mod input;
mod internal_notes;
mod limits;
mod live;
mod mail;
mod matrix;
mod metrics;
mod migrations;
mod notifications;
mod operations;
mod pagination;
mod password_reset;
mod planned;
mod readme;
mod retention;
mod schema;
mod search;
mod server;
mod sessions;
mod sla;
mod smtp;
mod stats;
mod subscriptions;
mod telemetry;
mod tickets;
mod transfer;
mod transitions;
mod two_factor;
mod webhooks;
