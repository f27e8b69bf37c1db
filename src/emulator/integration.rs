//! The HTTP_PROXY integration: how the emulator calls the backend for `$connect`, `$default` and
//! `$disconnect`, with the `connectionId` header the guide's §1.2 mapping provides.

use axum::http::StatusCode;
use bytes::Bytes;
use std::time::Duration;

/// API Gateway gives an integration at most 29 s.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

#[derive(Clone)]
pub struct Integration {
    http: reqwest::Client,
    backend: String,
}

/// Why `$connect` refused the handshake.
#[derive(Debug, Clone)]
pub struct ConnectRefused {
    pub status: StatusCode,
    pub body: String,
}

impl Integration {
    pub fn new(backend: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(INTEGRATION_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        Self {
            http,
            backend: backend.trim_end_matches('/').to_string(),
        }
    }

    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// `$connect`: no body, the client's query string passed through; any non-2xx refuses.
    pub async fn connect(
        &self,
        connection_id: &str,
        raw_query: Option<&str>,
    ) -> Result<(), ConnectRefused> {
        let mut url = format!("{}/ws/connect", self.backend);
        if let Some(q) = raw_query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        let response = self
            .http
            .post(url)
            .header("connectionId", connection_id)
            .send()
            .await
            .map_err(|e| ConnectRefused {
                status: StatusCode::BAD_GATEWAY,
                // reqwest's message includes the URL, and with it the token: say only what failed.
                body: format!(
                    "backend unreachable for $connect at {}: {}",
                    self.backend,
                    short_reason(&e)
                ),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(ConnectRefused {
            status: StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            body,
        })
    }

    /// `$default`: the message as body; the backend's answer, if any, goes back to the client.
    pub async fn message(&self, connection_id: &str, body: Bytes) -> Option<Bytes> {
        let response = self
            .http
            .post(format!("{}/ws/message", self.backend))
            .header("connectionId", connection_id)
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) => r.bytes().await.ok().filter(|b| !b.is_empty()),
            Err(e) => {
                tracing::warn!(
                    connection_id,
                    "backend unreachable for $default: {}",
                    short_reason(&e)
                );
                None
            }
        }
    }

    /// `$disconnect`: best effort, like the real one.
    pub async fn disconnect(&self, connection_id: &str) {
        let result = self
            .http
            .post(format!("{}/ws/disconnect", self.backend))
            .header("connectionId", connection_id)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(
                connection_id,
                "backend unreachable for $disconnect: {}",
                short_reason(&e)
            );
        }
    }
}

fn short_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused"
    } else {
        "request failed"
    }
}
