//! One Management API request on the wire: signed with SigV4 by `aws-sigv4` (the signer the
//! SDK uses, with the SDK's settings for `execute-api`), sent by hyper over a pool of
//! keep-alive HTTP/1.1 connections (TLS by rustls, the system's roots), bounded by the
//! environment's connect and call timeouts.
//!
//! Why not the SDK's client: measured with `perf` on `wsdash push` to 2,000 connections, the
//! SDK's per-call orchestration (config bags, interceptors, type-erased layers, and the
//! allocations they make) cost more CPU than the request itself: 110–125 µs a call against
//! DESIGN.md's budget of 60. The three calls wsdash makes are one signed request each.

use super::credentials_cache::CredentialsCache;
use super::GatewayError;
use aws_config::SdkConfig;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::{Duration, SystemTime};

/// An answer from the endpoint, whatever its status.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct SignedHttp {
    /// `Err` when TLS could not be set up (no root certificates on this machine): every call
    /// says so instead of the process failing at start.
    client: Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, String>,
    credentials: CredentialsCache,
    region: String,
    call_timeout: Duration,
    user_agent: header::HeaderValue,
}

/// The SDK's defaults when the environment names none (`aws_env::load_sdk_config` always does).
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl SignedHttp {
    /// `endpoint` decides whether the system's root certificates are loaded: a plain-HTTP
    /// endpoint (the emulator) never needs them, and reading them is a good part of a short
    /// command's start.
    pub fn new(sdk_config: &SdkConfig, region: &str, endpoint: &str) -> Self {
        let timeouts = sdk_config.timeout_config();
        let call_timeout = timeouts
            .and_then(|t| t.operation_attempt_timeout())
            .unwrap_or(DEFAULT_CALL_TIMEOUT);
        let connect_timeout = timeouts
            .and_then(|t| t.connect_timeout())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        Self {
            client: https_client(connect_timeout, endpoint.starts_with("https://")),
            credentials: CredentialsCache::new(sdk_config.credentials_provider()),
            region: region.to_string(),
            call_timeout,
            user_agent: header::HeaderValue::from_static(concat!(
                "wsdash/",
                env!("CARGO_PKG_VERSION")
            )),
        }
    }

    /// Sign and send one request; `endpoint` is only for the words of a failure.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Bytes,
        endpoint: &str,
    ) -> Result<Answer, GatewayError> {
        let client = self.client.as_ref().map_err(|e| {
            GatewayError::Network(format!("cannot make TLS connections to {endpoint}: {e}"))
        })?;
        let request = self.signed_request(method, uri, body).await?;
        let call = async {
            let response = client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(unanswered(e.as_ref(), endpoint)),
            Err(_) => Err(GatewayError::Timeout(format!(
                "no answer from {endpoint} within {:.0} s: check the network and the endpoint",
                self.call_timeout.as_secs_f64()
            ))),
        }
    }

    async fn signed_request(
        &self,
        method: Method,
        uri: &str,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, GatewayError> {
        let not_signable = |why: String| GatewayError::Other {
            status: 0,
            message: format!("the call to {uri} cannot be signed: {why}"),
        };
        let parsed: Uri = uri.parse().map_err(|e| not_signable(format!("{e}")))?;
        let host = parsed
            .authority()
            .map(|a| a.as_str().to_string())
            .ok_or_else(|| not_signable("the URL has no host".into()))?;
        let mut request = Request::builder()
            .method(method.clone())
            .uri(parsed)
            .header(header::HOST, host)
            .header(header::USER_AGENT, self.user_agent.clone());
        if method == Method::POST {
            request = request
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, body.len());
        }
        let mut request = request.body(()).map_err(|e| not_signable(format!("{e}")))?;
        let credentials = self.credentials.get().await?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("execute-api")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| not_signable(format!("{e}")))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable =
            SignableRequest::new(method.as_str(), uri, headers, SignableBody::Bytes(&body))
                .map_err(|e| not_signable(format!("{e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| not_signable(format!("{e}")))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request.map(|()| Full::new(body)))
    }
}

fn https_client(
    connect_timeout: Duration,
    tls: bool,
) -> Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = if tls {
        builder
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("no root certificates could be loaded ({e})"))?
    } else {
        // No roots: an https URL could not be verified, and none is ever asked for.
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS cannot be set up ({e})"))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        builder.with_tls_config(config)
    };
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https))
}

/// A request that got no answer: a timeout when the chain of causes holds one (by type), else
/// the network, in the words `aws_env` uses for every AWS call.
fn unanswered(
    err: &(dyn std::error::Error + Send + Sync + 'static),
    endpoint: &str,
) -> GatewayError {
    let err: &(dyn std::error::Error + 'static) = err;
    let mut next = Some(err);
    let mut timed_out = false;
    while let Some(e) = next {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            timed_out = true;
        }
        next = e.source();
    }
    let words = crate::aws_env::describe_unanswered_call(err, endpoint);
    if timed_out {
        GatewayError::Timeout(words)
    } else {
        GatewayError::Network(words)
    }
}
