//! scrapepath: makes sure Prometheus can actually scrape what app teams ask it to scrape.
//!
//! One engine, three drivers (DESIGN.md §6): the [`index::ClusterIndex`] holds the world, the pure
//! [`engine`] evaluates subjects layer by layer, and the CLI (`check`), the live audit and the controller
//! feed it and act on its verdicts.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod admission;
pub mod api;
pub mod authz;
pub mod cilium;
pub mod conditions;
pub mod config_access;
pub mod controller;
pub mod engine;
pub mod gate;
pub mod index;
pub mod kinds;
pub mod live;
pub mod load;
pub mod mesh;
pub mod model;
pub mod observe;
pub mod parse;
pub mod promop;
pub mod rbac;
pub mod regex_cache;
pub mod relabel;
pub mod report;
pub mod scrapeconfig;
pub mod selector;
pub mod workload;
