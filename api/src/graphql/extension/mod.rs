pub mod limits;
pub mod metrics;
