//! The GraphQL API: one file per type, grouped by role. `schema.rs` is the only place that
//! builds the schema.

pub mod context;
pub mod enums;
pub mod error;
pub(crate) mod extension;
pub mod id;
pub mod input;
pub mod loader;
mod mutation;
mod object;
pub(crate) mod query;
pub mod scalar;
pub mod schema;
pub mod subscription;

pub use extension::limits::Limits;
pub use object::planned::JsonPages;
pub use schema::{AttachmentLinks, HelpdeskSchema, SchemaOptions, Schemas, build_schema, sdl};
