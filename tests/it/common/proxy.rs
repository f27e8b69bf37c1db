//! An HTTP proxy in front of moto that sees every DynamoDB call: it counts them by operation
//! (to prove a dashboard did not scan) and can answer some with throttling, as DynamoDB does.

use super::Moto;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct DynamoProxy {
    pub url: String,
    /// Calls answered with ProvisionedThroughputExceededException.
    pub throttled: Arc<AtomicU64>,
    /// Calls passed to moto, by operation (the X-Amz-Target after the dot: "Scan", "GetItem").
    calls: Arc<Mutex<HashMap<String, u64>>>,
}

impl DynamoProxy {
    /// Pass every call through.
    pub async fn start(moto: &Moto) -> DynamoProxy {
        Self::start_throttling(moto, None).await
    }

    /// Answer every `n`th call (the 2nd, the (n+2)th, …) with throttling, when `n` is given;
    /// never one request (the same body, sent again) more than twice. Without that bound a
    /// request among many concurrent ones can land on a throttled turn at every attempt (a
    /// chance of (1/3)^8 per call, a few percent per run of a few hundred calls): a retry
    /// test that fails by luck, where DynamoDB would have let the request through.
    pub async fn start_throttling(moto: &Moto, every: Option<u64>) -> DynamoProxy {
        let seen = Arc::new(AtomicU64::new(0));
        let refused: Arc<Mutex<HashMap<Bytes, u32>>> = Arc::default();
        let throttled = Arc::new(AtomicU64::new(0));
        let calls: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let upstream = moto.url.clone();
        let client = reqwest::Client::new();
        let handler = {
            let (throttled, calls) = (throttled.clone(), calls.clone());
            move |method: Method, headers: HeaderMap, body: Bytes| {
                let (seen, refused, throttled, calls, upstream, client) = (
                    seen.clone(),
                    refused.clone(),
                    throttled.clone(),
                    calls.clone(),
                    upstream.clone(),
                    client.clone(),
                );
                async move {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let turn = every.is_some_and(|every| n % every == 1);
                    let refuse = turn
                        && refused.lock().is_ok_and(|mut refused| {
                            let times = refused.entry(body.clone()).or_default();
                            *times += 1;
                            *times <= 2
                        });
                    if refuse {
                        throttled.fetch_add(1, Ordering::SeqCst);
                        return (
                            StatusCode::BAD_REQUEST,
                            [("content-type", "application/x-amz-json-1.0")],
                            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#,
                        )
                            .into_response();
                    }
                    let operation = headers
                        .get("x-amz-target")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|t| t.rsplit('.').next())
                        .unwrap_or("?")
                        .to_string();
                    if let Ok(mut calls) = calls.lock() {
                        *calls.entry(operation).or_default() += 1;
                    }
                    let mut request = client.request(method, &upstream).body(body);
                    for (name, value) in &headers {
                        if !matches!(name.as_str(), "host" | "content-length" | "connection") {
                            request = request.header(name, value);
                        }
                    }
                    let Ok(answer) = request.send().await else {
                        return StatusCode::BAD_GATEWAY.into_response();
                    };
                    let status = answer.status();
                    let mut out = HeaderMap::new();
                    for (name, value) in answer.headers() {
                        if !matches!(
                            name.as_str(),
                            "content-length" | "transfer-encoding" | "connection"
                        ) {
                            out.insert(name.clone(), value.clone());
                        }
                    }
                    let body = answer.bytes().await.unwrap_or_default();
                    (status, out, body).into_response()
                }
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            axum::serve(listener, axum::Router::new().fallback(handler))
                .await
                .ok();
        });
        DynamoProxy {
            url,
            throttled,
            calls,
        }
    }

    /// How many calls of this operation reached moto.
    pub fn calls(&self, operation: &str) -> u64 {
        self.calls
            .lock()
            .map(|c| c.get(operation).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}
