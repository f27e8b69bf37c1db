//! The integration tests, as one binary: each test binary links the whole crate with seven AWS
//! SDKs, so one link instead of twelve. A module per area; `common` is the harness they share
//! (real servers on free loopback ports, killed when a test ends).
//!
//! Run one area with `./test --test it dynamo_cli::` (a module's path is a filter).

mod common;

mod aws_auth;
mod browser;
mod cli_docs;
mod demo;
mod doctor;
mod dynamo_cli;
mod emulator_python;
mod emulator_rust_sdk;
mod exporter;
mod orphans;
mod postgres_store;
mod properties;
mod purge_race;
mod redis_store;
mod third_party_backend;
mod tui_state;
mod tui_tmux;
