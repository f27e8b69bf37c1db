//! `doctor --e2e`: a real connection through the deployed system. Connect with a token, see the
//! backend record it (proof the connectionId mapping is deployed), push to it and receive, close,
//! and see the record go. Whatever it created is cleaned up, even when a step fails.

use super::Check;
use crate::management::ManagementApi;
use crate::store::ConnectionStore;
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Where doctor looks for the record the backend writes.
pub enum RecordSource {
    Table(Arc<dyn ConnectionStore>),
    /// The guide's `GET /debug/ws-connections` (for backends not on DynamoDB, like the demo's).
    BackendDebug {
        url: String,
        admin_token: String,
    },
}

impl RecordSource {
    async fn connection_ids(&self) -> Result<HashSet<String>, String> {
        match self {
            RecordSource::Table(store) => store
                .scan()
                .await
                .map(|s| s.records.into_iter().map(|r| r.connection_id).collect())
                .map_err(|e| e.to_string()),
            RecordSource::BackendDebug { url, admin_token } => {
                let list: Vec<serde_json::Value> = reqwest::Client::new()
                    .get(format!(
                        "{}/debug/ws-connections",
                        url.trim_end_matches('/')
                    ))
                    .bearer_auth(admin_token)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(list
                    .iter()
                    .filter_map(|r| r["connection_id"].as_str().map(str::to_string))
                    .collect())
            }
        }
    }

    async fn delete(&self, connection_id: &str) {
        if let RecordSource::Table(store) = self {
            if let Ok(Some(record)) = store.find_by_connection(connection_id).await {
                let _ = store.delete_if_current(&record).await;
            }
        }
    }
}

const STEP_TIMEOUT: Duration = Duration::from_secs(10);

fn ms(since: Instant) -> String {
    format!("{:.0} ms", since.elapsed().as_secs_f64() * 1000.0)
}

/// The wss:// URL for a management endpoint's stage.
pub fn websocket_url_for(endpoint: &str) -> String {
    endpoint
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1)
}

pub async fn run(
    gateway: Arc<dyn ManagementApi>,
    source: RecordSource,
    websocket_url: &str,
    token: &str,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let before = match source.connection_ids().await {
        Ok(ids) => ids,
        Err(e) => {
            checks.push(Check::fail(
                "e2e record",
                format!("cannot read the records: {e}"),
                "give --table, or --backend URL --admin-token T",
            ));
            return checks;
        }
    };
    let url = format!(
        "{websocket_url}?token={}",
        percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC)
    );
    let started = Instant::now();
    let mut socket =
        match tokio::time::timeout(STEP_TIMEOUT, tokio_tungstenite::connect_async(url.as_str()))
            .await
        {
            Ok(Ok((socket, _))) => {
                checks.push(Check::pass(
                    "e2e connect",
                    format!("connected to {websocket_url} in {}", ms(started)),
                ));
                socket
            }
            Ok(Err(e)) => {
                let detail = match &e {
                    tokio_tungstenite::tungstenite::Error::Http(response) => {
                        format!("the handshake was refused with HTTP {}", response.status())
                    }
                    other => other.to_string(),
                };
                checks.push(Check::fail(
                    "e2e connect",
                    format!("{websocket_url}: {detail}"),
                    "check the token and the $connect route's backend logs",
                ));
                return checks;
            }
            Err(_) => {
                checks.push(Check::fail(
                    "e2e connect",
                    format!("{websocket_url}: no answer in {}s", STEP_TIMEOUT.as_secs()),
                    "check the URL and the network",
                ));
                return checks;
            }
        };

    // Our connection id is the record that was not there before.
    let started = Instant::now();
    let mut ours = None;
    while started.elapsed() < STEP_TIMEOUT && ours.is_none() {
        if let Ok(now) = source.connection_ids().await {
            ours = now.difference(&before).next().cloned();
        }
        if ours.is_none() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let Some(connection_id) = ours else {
        let _ = socket.close(None).await;
        checks.push(Check::fail(
            "e2e record",
            format!("connected, but no new record appeared within {}s: the backend did not record the connection", STEP_TIMEOUT.as_secs()),
            "check the $connect integration's connectionId mapping (see the integration checks), redeploy the stage, and read the backend's logs",
        ));
        return checks;
    };
    checks.push(Check::pass(
        "e2e record",
        format!(
            "record {connection_id} appeared after {}: the connectionId mapping is deployed",
            ms(started)
        ),
    ));

    let nonce = format!("wsdash-doctor-{}", crate::token::random_token());
    let payload = serde_json::json!({"type": "heartbeat", "doctor": nonce}).to_string();
    let started = Instant::now();
    match gateway
        .post_to_connection(&connection_id, Bytes::from(payload))
        .await
    {
        Err(e) => checks.push(Check::fail(
            "e2e push",
            format!("PostToConnection failed: {e}"),
            "see the manage connections check",
        )),
        Ok(()) => {
            let received = tokio::time::timeout(STEP_TIMEOUT, async {
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        if text.contains(&nonce) {
                            return true;
                        }
                    }
                }
                false
            })
            .await
            .unwrap_or(false);
            if received {
                checks.push(Check::pass(
                    "e2e push",
                    format!("pushed and received in {}", ms(started)),
                ));
            } else {
                checks.push(Check::fail(
                    "e2e push",
                    "PostToConnection succeeded but the message never arrived",
                    "check that the endpoint's stage is the one the client connected to",
                ));
            }
        }
    }

    let started = Instant::now();
    let _ = socket.close(None).await;
    drop(socket);
    let mut gone = false;
    while started.elapsed() < STEP_TIMEOUT && !gone {
        gone = source
            .connection_ids()
            .await
            .map(|ids| !ids.contains(&connection_id))
            .unwrap_or(false);
        if !gone {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if gone {
        checks.push(Check::pass(
            "e2e disconnect",
            format!("the record disappeared {} after close", ms(started)),
        ));
    } else {
        // Clean up what we created: the socket is closed; remove the record if we can.
        let _ = gateway.delete_connection(&connection_id).await;
        source.delete(&connection_id).await;
        checks.push(Check::warn(
            "e2e disconnect",
            format!("the record stayed {}s after close: $disconnect did not remove it (doctor deleted it)", STEP_TIMEOUT.as_secs()),
            Some("check the $disconnect route and its integration's connectionId mapping".into()),
        ));
    }
    checks
}
