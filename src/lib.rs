//! `runner`: declarative, cached experiments for recommender-system embeddings.
//!
//! A config file ([`config`]) expands into runs; [`pipeline`] turns runs into a DAG of cached
//! stages (data -> split -> corpus -> train -> index -> eval -> report) built from the plug-in
//! registries of [`data`], [`models`] and [`index`]; [`metrics`] scores the retrieved lists
//! and [`report`] writes the comparison tables.

pub mod cli;
pub mod config;
pub mod data;
pub mod eval;
pub mod graph;
pub mod index;
pub mod interrupt;
pub mod linalg;
pub mod memory;
pub mod metrics;
pub mod models;
pub mod nn;
pub mod params;
pub mod pipeline;
pub mod report;
pub mod sampling;
pub mod search;
pub mod service;
pub mod sgns;
pub mod term;
pub mod tracking;
