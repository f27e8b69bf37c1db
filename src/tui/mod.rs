//! The dashboard: state + actions + pure views, driven by one event loop.

pub mod action;
pub mod app;
pub mod effects;
pub mod failure;
pub mod feed;
pub mod filter;
pub mod follow;
pub mod keymap;
pub mod layout;
pub mod metrics;
pub mod overview;
pub mod recording;
pub mod redaction;
pub mod replay;
pub mod row_index;
pub mod runtime;
pub mod scan;
pub mod search;
pub mod table;
pub mod table_order;
pub mod table_rows;
pub mod tally;
pub mod telemetry;
pub mod update;
pub mod views;
pub mod visible;
