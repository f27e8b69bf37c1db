//! wsdash: a dashboard and toolkit for WebSocket push on AWS API Gateway, with a local emulator.

pub mod access_logs;
pub mod aws_env;
pub mod cli;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod emulator;
pub mod exporter;
pub mod flags;
pub mod gateway_metrics;
pub mod launch;
pub mod logging;
pub mod management;
pub mod messages;
pub mod model;
pub mod ops;
pub mod sdk_http_client;
pub mod shutdown;
pub mod store;
pub mod text;
pub mod token;
pub mod tui;

#[cfg(test)]
mod layering;
