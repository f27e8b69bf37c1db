//! Checking a request's SigV4 signature the way API Gateway does: the Authorization header's
//! form, the credential scope (service, region, date), the clock, the key and the signature.
//!
//! The signature is recomputed with `aws-sigv4` (the signer the Rust SDK uses) over exactly the
//! headers the client listed in `SignedHeaders`, at the client's own `X-Amz-Date`, and compared in
//! constant time. Nothing here is hand-rolled crypto.

use super::credentials::{CredentialSet, KnownKey};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, Method, Uri};
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// How far a request's `X-Amz-Date` may be from the gateway's clock (AWS: 15 minutes).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// Which SigV4 service name a request must be scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The Management API (`@connections`).
    ExecuteApi,
    /// The configuration API (apigatewayv2: `/v2/apis/...`).
    ApiGateway,
    /// CloudWatch (GetMetricData).
    Monitoring,
}

impl Service {
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::ExecuteApi => "execute-api",
            Service::ApiGateway => "apigateway",
            Service::Monitoring => "monitoring",
        }
    }
}

/// Who signed a request that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    /// The principal's ARN, as IAM denials name it.
    pub arn: String,
}

/// A refusal, with the error type and message AWS sends for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error_type: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }
    fn invalid_signature(message: impl Into<String>) -> Self {
        Self::new(403, "InvalidSignatureException", message)
    }
    fn incomplete(message: impl Into<String>) -> Self {
        Self::new(403, "IncompleteSignatureException", message)
    }
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authorization<'a> {
    access_key_id: &'a str,
    scope_date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, Refusal> {
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256") else {
        return Err(Refusal::incomplete(format!(
            "Authorization header requires 'AWS4-HMAC-SHA256' as its algorithm. Authorization={value}"
        )));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut missing = Vec::new();
    for (name, part) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if part.is_none_or(str::is_empty) {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature), true) =
        (credential, signed_headers, signature, missing.is_empty())
    else {
        return Err(Refusal::incomplete(format!(
            "{} Authorization={value}",
            missing.join(" ")
        )));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, scope_date, region, service, terminator] = scope[..] else {
        return Err(Refusal::incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        )));
    };
    Ok(Authorization {
        access_key_id,
        scope_date,
        region,
        service,
        terminator,
        signed_headers: signed_headers.split(';').collect(),
        signature,
    })
}

/// The access key a request says it is signed with, if its Authorization header is well formed.
pub fn access_key_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    parse_authorization(value.trim())
        .ok()
        .map(|auth| auth.access_key_id)
}

const AMZ_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

fn format_amz_date(t: OffsetDateTime) -> String {
    t.format(AMZ_DATE).unwrap_or_default()
}

fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(value, AMZ_DATE)
        .ok()
        .map(|t| t.assume_utc())
}

/// What the gateway checks, and against what.
pub struct Verifier<'a> {
    pub region: &'a str,
    pub account_id: &'a str,
    pub credentials: &'a CredentialSet,
    /// The gateway's clock.
    pub now: OffsetDateTime,
}

/// One request as received: the path and query exactly as the client sent them.
pub struct ReceivedRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

impl Verifier<'_> {
    /// Check `request` as API Gateway would for `service`; the caller on success.
    pub fn verify(
        &self,
        request: &ReceivedRequest<'_>,
        service: Service,
    ) -> Result<Caller, Refusal> {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let Some(authorization) = header("authorization") else {
            return Err(Refusal::new(
                403,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let auth = parse_authorization(authorization)?;
        let Some(amz_date) = header("x-amz-date") else {
            return Err(Refusal::incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            ));
        };
        let Some(signed_at) = parse_amz_date(amz_date) else {
            return Err(Refusal::incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
            )));
        };
        if auth.terminator != "aws4_request" {
            return Err(Refusal::invalid_signature(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
                auth.terminator
            )));
        }
        if auth.service != service.signing_name() {
            return Err(Refusal::invalid_signature(format!(
                "Credential should be scoped to correct service: '{}'. ",
                service.signing_name()
            )));
        }
        if auth.region != self.region {
            return Err(Refusal::invalid_signature(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                auth.region
            )));
        }
        if auth.scope_date != &amz_date[..8.min(amz_date.len())] {
            return Err(Refusal::invalid_signature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
                auth.scope_date,
                &amz_date[..8.min(amz_date.len())]
            )));
        }
        let skew = time::Duration::try_from(MAX_CLOCK_SKEW).unwrap_or(time::Duration::MINUTE * 15);
        if signed_at < self.now - skew {
            return Err(Refusal::invalid_signature(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)",
                format_amz_date(self.now - skew),
                format_amz_date(self.now)
            )));
        }
        if signed_at > self.now + skew {
            return Err(Refusal::invalid_signature(format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)",
                format_amz_date(self.now + skew),
                format_amz_date(self.now)
            )));
        }
        let token = header("x-amz-security-token");
        let known = match self.credentials.lookup(auth.access_key_id) {
            Lookup::AnyKey => {
                return Ok(Caller {
                    access_key_id: auth.access_key_id.to_string(),
                    arn: format!("arn:aws:iam::{}:user/local", self.account_id),
                })
            }
            Lookup::Unknown => return Err(unrecognized()),
            Lookup::Known(known) => known,
        };
        if known.session_token.as_deref() != token {
            return Err(unrecognized());
        }
        check_signature(request, &auth, known, signed_at, token)?;
        if known
            .expires_at
            .is_some_and(|expires_at| expires_at <= self.now)
        {
            return Err(Refusal::new(
                403,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ));
        }
        Ok(Caller {
            access_key_id: known.access_key_id.clone(),
            arn: known.arn.clone(),
        })
    }
}

pub use super::credentials::Lookup;

fn unrecognized() -> Refusal {
    Refusal::new(
        403,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

/// Recompute the signature over what the client says it signed, with the key's secret.
fn check_signature(
    request: &ReceivedRequest<'_>,
    auth: &Authorization<'_>,
    known: &KnownKey,
    signed_at: OffsetDateTime,
    token: Option<&str>,
) -> Result<(), Refusal> {
    let mismatch = || {
        Refusal::invalid_signature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    };
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        if name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        for value in request.headers.get_all(*name) {
            let value = value.to_str().map_err(|_| mismatch())?;
            headers.push((name, value));
        }
    }
    // A client that sends x-amz-content-sha256 signs that value as the payload's hash.
    let body = match request
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
    {
        Some(hash) => SignableBody::Precomputed(hash.to_string()),
        None => SignableBody::Bytes(request.body),
    };
    let uri = request
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let signable = SignableRequest::new(request.method.as_str(), uri, headers.into_iter(), body)
        .map_err(|_| mismatch())?;
    let identity = Credentials::new(
        &known.access_key_id,
        &known.secret_access_key,
        token.map(str::to_string),
        None,
        "wsdash-emulator",
    )
    .into();
    // Sign exactly what the client listed: no header is dropped from its list.
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let time = SystemTime::UNIX_EPOCH
        + Duration::from_secs(u64::try_from(signed_at.unix_timestamp()).unwrap_or(0));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|_| mismatch())?
        .into();
    let (_, expected) = sign(signable, &params)
        .map_err(|_| mismatch())?
        .into_parts();
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(mismatch())
    }
}

/// Compares without stopping at the first difference, so timing says nothing about a secret
/// (`subtle`, the RustCrypto crates' constant-time comparison).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_authorization_header_parses_into_its_scope() {
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20261201/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .expect("parses");
        assert_eq!(auth.access_key_id, "AKID");
        assert_eq!(auth.region, "eu-west-1");
        assert_eq!(auth.service, "execute-api");
        assert_eq!(auth.signed_headers, vec!["host", "x-amz-date"]);
    }

    #[test]
    fn a_header_without_its_signature_is_incomplete_and_says_what_is_missing() {
        let refusal = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/execute-api/aws4_request, SignedHeaders=host",
        )
        .expect_err("incomplete");
        assert_eq!(refusal.error_type, "IncompleteSignatureException");
        assert!(
            refusal.message.contains("'Signature'"),
            "{}",
            refusal.message
        );
    }
}
