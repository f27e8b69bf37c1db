//! Everything needed to run the guide's push system on a laptop with no AWS account:
//! an API Gateway WebSocket emulator, the reference backend, a swarm of simulated clients,
//! and the demo that wires them together over real sockets.

pub mod access_log;
pub mod api_config;
pub mod api_definition;
pub mod auth;
pub mod backend;
pub mod cloudwatch;
pub mod config_api;
pub mod demo;
pub mod error;
pub mod faults;
pub mod gateway;
pub mod ids;
pub mod integration;
pub mod notifications;
pub mod registry;
pub mod socket;
pub mod swarm;
pub mod throttle;
