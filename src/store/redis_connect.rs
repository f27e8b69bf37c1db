//! Opening a Redis connection (redis:// and rediss://, with a private CA), telling its errors
//! apart by kind, and keeping passwords out of every message.

use super::StoreError;

/// A client for `url`. `rediss://` is TLS, the server's certificate verified against the
/// system's roots or the CA file the URL names with `sslrootcert` (as for PostgreSQL; taken out
/// before the URL reaches the driver).
pub(super) fn client_for(url: &str) -> Result<redis::Client, StoreError> {
    let not_a_url =
        |e: redis::RedisError| StoreError::Schema(format!("{}: not a Redis URL: {e}", redact(url)));
    if !url.starts_with("rediss://") {
        return redis::Client::open(url).map_err(not_a_url);
    }
    // rustls takes one crypto provider per process: the AWS SDK's, aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut parsed = reqwest::Url::parse(url)
        .map_err(|e| StoreError::Schema(format!("{}: not a Redis URL: {e}", redact(url))))?;
    let mut root_file = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .into_owned()
        .filter(|(key, value)| {
            let ours = key == "sslrootcert";
            if ours {
                root_file = Some(value.clone());
            }
            !ours
        })
        .collect();
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    match root_file {
        None => redis::Client::open(parsed.as_str()).map_err(not_a_url),
        Some(path) => {
            let pem = std::fs::read(&path)
                .map_err(|e| StoreError::Schema(format!("sslrootcert {path}: {e}")))?;
            redis::Client::build_with_tls(
                parsed.as_str(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
            .map_err(not_a_url)
        }
    }
}

/// A Redis error by its kind, never by its text.
pub(super) fn classify(error: redis::RedisError) -> StoreError {
    let message = error.to_string();
    if error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_timeout()
    {
        return StoreError::Network(message);
    }
    match error.kind() {
        redis::ErrorKind::AuthenticationFailed => StoreError::AccessDenied(message),
        redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
        | redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain) => {
            StoreError::Throttled(message)
        }
        redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) => {
            StoreError::AccessDenied(message)
        }
        _ => StoreError::Other(message),
    }
}

/// The URL without its password.
pub fn redact(url: &str) -> String {
    super::postgres_connect::redact(url)
}
