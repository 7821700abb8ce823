//! Support shared by the integration test binaries (`mod common;`).
pub mod cluster;
pub mod fixtures;
pub mod prometheus;
pub mod testenv;
