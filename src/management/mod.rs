//! The Management API (`@connections`) as wsdash sees it: one trait and one error classification.
//!
//! Everything above this module (ops, TUI, CLI, the reference backend) talks to [`ManagementApi`] and
//! matches on [`GatewayError`]; nothing above it ever sees an SDK type.

pub mod aws;
mod credentials_cache;
pub mod denial;
pub mod endpoint;
mod signed_http;
mod wire;

use crate::model::{ConnectionInfo, DeliveryClass};
use async_trait::async_trait;
use bytes::Bytes;

pub use aws::AwsManagementApi;
pub use denial::{Denial, DenialCause, Verb};

/// A Management API endpoint: API Gateway itself, or the wsdash emulator.
#[async_trait]
pub trait ManagementApi: Send + Sync {
    /// PostToConnection: deliver `data` as one message.
    async fn post_to_connection(
        &self,
        connection_id: &str,
        data: Bytes,
    ) -> Result<(), GatewayError>;
    /// GetConnection: is it live, since when, from where.
    async fn get_connection(&self, connection_id: &str) -> Result<ConnectionInfo, GatewayError>;
    /// DeleteConnection: close the socket.
    async fn delete_connection(&self, connection_id: &str) -> Result<(), GatewayError>;
    /// Where calls go, for headers and messages.
    fn endpoint(&self) -> &str;
}

/// Why a Management API call did not succeed, classified once, here, for every caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("gone (410): the client is no longer connected, so its record is stale")]
    Gone,
    /// 403: the gateway refused the call; why, from the error type, is in the [`Denial`].
    #[error("{0}")]
    Forbidden(Box<Denial>),
    /// Never sent: the SDK had no credentials to sign with (none at all, or a profile whose
    /// session could not be refreshed).
    #[error("{0}")]
    Credentials(String),
    #[error("payload too large (413): messages are limited to {max} bytes", max = crate::model::MAX_MESSAGE_BYTES)]
    PayloadTooLarge,
    #[error("throttled (429): {0}; lower the call rate or concurrency")]
    Throttled(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("management endpoint unreachable: {0}")]
    Network(String),
    #[error("unexpected answer (HTTP {status}): {message}")]
    Other { status: u16, message: String },
    /// Refused before sending: the id cannot go into a Management API path.
    #[error("not sent: {0}")]
    InvalidConnectionId(String),
}

impl GatewayError {
    pub fn class(&self) -> DeliveryClass {
        match self {
            GatewayError::Gone => DeliveryClass::Gone,
            GatewayError::Forbidden(_) | GatewayError::Credentials(_) => DeliveryClass::Forbidden,
            GatewayError::PayloadTooLarge => DeliveryClass::PayloadTooLarge,
            GatewayError::Throttled(_) => DeliveryClass::Throttled,
            GatewayError::Timeout(_) => DeliveryClass::Timeout,
            GatewayError::Network(_) => DeliveryClass::Network,
            GatewayError::Other { .. } | GatewayError::InvalidConnectionId(_) => {
                DeliveryClass::Other
            }
        }
    }

    /// The HTTP status behind the error, when there was an answer at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            GatewayError::Gone => Some(410),
            GatewayError::Forbidden(_) => Some(403),
            GatewayError::PayloadTooLarge => Some(413),
            GatewayError::Throttled(_) => Some(429),
            GatewayError::Timeout(_)
            | GatewayError::Network(_)
            | GatewayError::Credentials(_)
            | GatewayError::InvalidConnectionId(_) => None,
            GatewayError::Other { status, .. } => (*status != 0).then_some(*status),
        }
    }

    /// Worth another attempt later: throttling, server-side errors, timeouts and network blips.
    pub fn is_retryable(&self) -> bool {
        match self {
            GatewayError::Throttled(_) | GatewayError::Timeout(_) | GatewayError::Network(_) => {
                true
            }
            GatewayError::Other { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// Why a 403 was answered, when it was one.
    pub fn denial(&self) -> Option<&Denial> {
        match self {
            GatewayError::Forbidden(denial) => Some(denial),
            _ => None,
        }
    }

    /// A machine-readable cause for JSON output: the denial's, or the class's.
    pub fn cause(&self) -> &'static str {
        match self {
            GatewayError::Forbidden(denial) => denial.cause.as_str(),
            GatewayError::Credentials(_) => "credentials_unavailable",
            other => other.class().as_str(),
        }
    }

    /// Classify an error by its AWS error code (e.g. `GoneException`) and HTTP status.
    /// The code wins; the status is the fallback for codes we do not know. A 403 becomes a
    /// [`Denial`] whose cause comes from the code too; `context` says what the call was.
    pub fn from_code_and_status(
        code: Option<&str>,
        status: u16,
        message: String,
        context: &denial::CallContext,
    ) -> Self {
        if let Some(cause) = DenialCause::from_code(code) {
            return GatewayError::Forbidden(Box::new(Denial::new(cause, message, context)));
        }
        match code.unwrap_or_default() {
            "GoneException" => return GatewayError::Gone,
            "PayloadTooLargeException" => return GatewayError::PayloadTooLarge,
            "LimitExceededException" | "ThrottlingException" | "TooManyRequestsException" => {
                return GatewayError::Throttled(message)
            }
            _ => {}
        }
        match status {
            410 => GatewayError::Gone,
            403 => GatewayError::Forbidden(Box::new(Denial::new(
                DenialCause::Forbidden,
                message,
                context,
            ))),
            413 => GatewayError::PayloadTooLarge,
            429 => GatewayError::Throttled(message),
            _ => GatewayError::Other { status, message },
        }
    }
}

/// The outcome class of any Management API result.
pub fn classify<T>(result: &Result<T, GatewayError>) -> DeliveryClass {
    match result {
        Ok(_) => DeliveryClass::Delivered,
        Err(e) => e.class(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_code_wins_over_the_status() {
        let context = denial::CallContext::for_tests(Verb::Get);
        let e =
            GatewayError::from_code_and_status(Some("GoneException"), 400, String::new(), &context);
        assert_eq!(e, GatewayError::Gone);
        let e = GatewayError::from_code_and_status(
            Some("LimitExceededException"),
            400,
            "x".into(),
            &context,
        );
        assert_eq!(e.class(), DeliveryClass::Throttled);
    }

    #[test]
    fn unknown_codes_fall_back_to_the_status() {
        let context = denial::CallContext::for_tests(Verb::Post);
        let e = GatewayError::from_code_and_status(None, 500, "boom".into(), &context);
        assert_eq!(
            e,
            GatewayError::Other {
                status: 500,
                message: "boom".into()
            }
        );
        assert!(e.is_retryable());
        assert!(!GatewayError::Gone.is_retryable());
        assert_eq!(
            GatewayError::from_code_and_status(None, 403, "no".into(), &context).class(),
            DeliveryClass::Forbidden
        );
    }
}
