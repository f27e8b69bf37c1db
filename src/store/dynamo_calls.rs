//! Calling DynamoDB: requests sent again while the table throttles (one list of throttling
//! codes, backoff with full jitter), and every SDK error turned into a [`StoreError`] by its
//! error code, never by its text.

use super::StoreError;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::time::Duration;

type Item = HashMap<String, AttributeValue>;

/// Attempts per call while DynamoDB answers that it is throttling.
const THROTTLE_ATTEMPTS: u32 = 8;

/// Send a request again while DynamoDB throttles it (ProvisionedThroughputExceeded,
/// ThrottlingException, RequestLimitExceeded): exponential backoff from 25 ms up to 2 s, with
/// full jitter so concurrent callers do not come back in step. The SDK's own retries are off
/// (see `aws_env`), so this is the one place a throttled store call is repeated.
pub(super) async fn send_retrying<T, E, Fut>(
    mut send: impl FnMut() -> Fut,
) -> Result<T, SdkError<E, HttpResponse>>
where
    Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata,
{
    let mut ceiling = Duration::from_millis(25);
    let mut attempt = 1;
    loop {
        match send().await {
            Err(e) if is_throttling(&e) && attempt < THROTTLE_ATTEMPTS => {
                tokio::time::sleep(ceiling.mul_f64(rand::random::<f64>())).await;
                ceiling = (ceiling * 2).min(Duration::from_secs(2));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// DynamoDB's error codes for "slow down": retried with backoff, and said as throttling.
const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

pub(super) fn is_throttling<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.code()
        .is_some_and(|code| THROTTLING_CODES.contains(&code))
}

/// The item as it is now (a consistent read), retried while throttled.
pub(super) async fn get_item(
    client: &Client,
    table: &str,
    key: Item,
) -> Result<Option<Item>, StoreError> {
    let request = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true);
    let out = send_retrying(|| request.clone().send())
        .await
        .map_err(|e| store_error(e, table))?;
    Ok(out.item().cloned())
}

/// BatchGetItem reads at most this many keys per call.
pub(super) const BATCH_GET_LIMIT: usize = 100;

/// The one place a DynamoDB SDK error becomes a [`StoreError`].
pub(super) fn store_error<E>(err: SdkError<E, HttpResponse>, table: &str) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(failure) = crate::aws_env::credentials_failure(&err) {
        return StoreError::Credentials(failure.to_string());
    }
    let code = err.code().unwrap_or_default().to_string();
    let message = err.message().map(str::to_string).unwrap_or_else(|| {
        crate::aws_env::describe_unanswered_call(
            &err,
            &format!("the DynamoDB endpoint of table {table}"),
        )
    });
    match code.as_str() {
        "ResourceNotFoundException" => StoreError::TableNotFound(table.to_string()),
        throttled if THROTTLING_CODES.contains(&throttled) => StoreError::Throttled(message),
        "AccessDeniedException" | "UnrecognizedClientException" | "InvalidSignatureException" => {
            StoreError::AccessDenied(message)
        }
        "ExpiredTokenException" | "ExpiredToken" => StoreError::AccessDenied(format!(
            "credentials expired ({message}); refresh them (e.g. aws sso login)"
        )),
        _ => match err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                StoreError::Network(crate::aws_env::describe_unanswered_call(
                    &err,
                    &format!("the DynamoDB endpoint of table {table}"),
                ))
            }
            _ => StoreError::Other(if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            }),
        },
    }
}

pub(super) fn is_condition_failure<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> bool {
    err.code() == Some("ConditionalCheckFailedException")
}
