//! The dashboard: state + actions + pure views, driven by one event loop.

pub mod action;
pub mod app;
pub mod churn;
pub mod effects;
pub mod feed;
pub mod filter;
pub mod keymap;
pub mod layout;
pub mod metrics;
pub mod rows;
pub mod runtime;
pub mod scan;
pub mod search;
pub mod table;
pub mod update;
pub mod views;
