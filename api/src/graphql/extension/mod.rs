pub mod limits;
#[cfg(feature = "test-hooks")]
pub mod panic_probe;
pub mod response_size;
