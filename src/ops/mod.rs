//! Operations shared by the dashboard, the headless commands and the reference backend.
//! They talk only to the [`crate::gateway::ManagementApi`] and [`crate::store::ConnectionStore`] traits.

pub mod probe;
pub mod purge;
pub mod push;
pub mod rate;
