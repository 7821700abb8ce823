//! Support shared by the integration test binaries (`mod common;`).
pub mod cilium_diff;
pub mod cilium_gen;
pub mod cilium_table;
pub mod cluster;
pub mod datapath;
pub mod fixtures;
pub mod prometheus;
pub mod rng;
pub mod testenv;
pub mod tool;
