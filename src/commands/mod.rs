//! Headless commands: one file per operation, all calling the same `ops` as the dashboard.

pub mod context;
pub mod disconnect;
pub mod doctor;
pub mod list;
pub mod orphans;
pub mod output;
pub mod probe;
pub mod progress;
pub mod purge;
pub mod push;
pub mod restore;
pub mod store;

pub use context::{CommandError, Context, GlobalArgs, OutputFormat};
