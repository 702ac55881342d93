pub mod limits;
pub mod metrics;
#[cfg(feature = "test-hooks")]
pub mod panic_probe;
pub mod response_size;
