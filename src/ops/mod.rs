//! Operations shared by the dashboard, the headless commands and the reference backend.
//! They talk only to the [`crate::management::ManagementApi`] and [`crate::store::ConnectionStore`] traits.

pub mod audit;
pub mod churn;
pub mod classify;
pub mod delete;
pub mod disconnect;
pub mod estimate;
pub mod orphans;
pub mod pacing;
pub mod probe;
pub mod purge;
pub mod push;
pub mod restore;
pub mod watch;
