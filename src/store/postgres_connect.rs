//! Opening PostgreSQL connections (TLS as libpq's `sslmode` asks, a private CA by
//! `sslrootcert`), the LISTEN connection the notify feed reads, telling errors apart by
//! SQLSTATE, and keeping passwords out of every message.

use super::StoreError;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;
use tokio_postgres_rustls::MakeRustlsConnect;

/// A connection for LISTEN: its notifications (or how it ended) arrive on the receiver.
pub(super) async fn open_listener(
    url: &str,
) -> Result<
    (
        Client,
        tokio::sync::mpsc::UnboundedReceiver<Result<String, StoreError>>,
    ),
    StoreError,
> {
    use futures_util::StreamExt;
    let (url, tls) = tls_for(url)?;
    let (client, mut connection) = tokio_postgres::connect(&url, tls).await.map_err(classify)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Polling the messages is what drives the connection, so the task owns it.
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    if tx.send(Ok(n.payload().to_string())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(classify(e)));
                    return;
                }
            }
        }
    });
    Ok((client, rx))
}

/// TLS as a libpq URL asks for it: `sslmode` `disable`, `prefer` (the default: TLS when the
/// server offers it) or `require` (`verify-ca` and `verify-full` are taken as `require`). The
/// server's certificate is always verified (rustls has no "encrypt but trust anyone"), against
/// the system's roots or the CA file the URL names with `sslrootcert` (RDS's global bundle, for
/// one). Returns the URL without what only wsdash reads.
fn tls_for(url: &str) -> Result<(String, MakeRustlsConnect), StoreError> {
    let mut parsed = reqwest::Url::parse(url)
        .map_err(|e| StoreError::Schema(format!("{}: not a PostgreSQL URL: {e}", redact(url))))?;
    let mut root_file = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs().into_owned() {
        match (key.as_str(), value.as_str()) {
            ("sslrootcert", _) => root_file = Some(value),
            ("sslmode", "verify-ca" | "verify-full") => kept.push((key, "require".to_string())),
            _ => kept.push((key, value)),
        }
    }
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    let mut roots = rustls::RootCertStore::empty();
    match &root_file {
        Some(path) => {
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| StoreError::Schema(format!("sslrootcert {path}: {e}")))?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| StoreError::Schema(format!("sslrootcert {path}: {e}")))?;
            }
        }
        None => {
            // Unreadable system certificates leave fewer roots, never a failed start: a
            // server they would have verified then says so in its TLS error.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Other(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((parsed.to_string(), MakeRustlsConnect::new(config)))
}

pub(super) async fn open(url: &str) -> Result<Client, StoreError> {
    let (url, tls) = tls_for(url)?;
    let (client, connection) = tokio_postgres::connect(&url, tls).await.map_err(classify)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("PostgreSQL connection ended: {e}");
        }
    });
    // Times are read and written in UTC, whatever the server's default.
    client
        .batch_execute("SET TimeZone = 'UTC'")
        .await
        .map_err(classify)?;
    Ok(client)
}

/// A PostgreSQL error by its SQLSTATE (or its kind when the server never answered), never by
/// its text.
pub(super) fn classify(error: tokio_postgres::Error) -> StoreError {
    let message = error.as_db_error().map_or_else(
        || {
            std::error::Error::source(&error)
                .map(|cause| format!("{error}: {cause}"))
                .unwrap_or_else(|| error.to_string())
        },
        |db| db.message().to_string(),
    );
    let Some(code) = error.code() else {
        // No SQLSTATE: the server was never reached or the connection broke (an I/O error or
        // a closed connection), or wsdash sent what the statement cannot take.
        let io =
            std::error::Error::source(&error).is_some_and(|cause| cause.is::<std::io::Error>());
        return if error.is_closed() || io {
            StoreError::Network(message)
        } else {
            StoreError::Other(message)
        };
    };
    if *code == SqlState::UNDEFINED_TABLE {
        StoreError::TableNotFound(message)
    } else if [
        SqlState::INSUFFICIENT_PRIVILEGE,
        SqlState::INVALID_PASSWORD,
        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
    ]
    .contains(code)
    {
        StoreError::AccessDenied(message)
    } else if [
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::LOCK_NOT_AVAILABLE,
    ]
    .contains(code)
    {
        StoreError::Throttled(message)
    } else if [
        SqlState::ADMIN_SHUTDOWN,
        SqlState::CRASH_SHUTDOWN,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::CONNECTION_FAILURE,
    ]
    .contains(code)
    {
        StoreError::Network(message)
    } else {
        StoreError::Other(format!("{message} (SQLSTATE {})", code.code()))
    }
}

/// The URL without its password, for headers and messages.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "postgres://…".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://app:hunter2@db.internal:5432/app"),
            "postgres://app:***@db.internal:5432/app"
        );
        assert_eq!(
            redact("postgres://db.internal/app"),
            "postgres://db.internal/app"
        );
    }
}
