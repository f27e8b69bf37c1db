//! `wsdash doctor`: the guide's "Common Issues" turned into checks, each with what was found and
//! the exact command that fixes it.

pub mod access;
pub mod api_checks;
pub mod api_config;
pub mod e2e;
pub mod postgres;
pub mod redis;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "WARN")]
    Warn,
    #[serde(rename = "FAIL")]
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
    /// Why a check failed, for scripts (e.g. `iam_denied`, `clock_skew`); absent when it passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
}

impl Check {
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
            cause: None,
        }
    }
    pub fn warn(name: impl Into<String>, detail: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix,
            cause: None,
        }
    }
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
            cause: None,
        }
    }
    /// A failure whose cause is machine-readable; its fix is set by the caller.
    pub fn fail_with_cause(
        name: impl Into<String>,
        detail: impl Into<String>,
        cause: &'static str,
    ) -> Self {
        Self {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: None,
            cause: Some(cause),
        }
    }
}

/// `https://abc123.execute-api.eu-west-1.amazonaws.com/production` → (abc123, eu-west-1, production).
pub fn parse_execute_api_endpoint(endpoint: &str) -> Option<(String, String, String)> {
    let rest = endpoint.strip_prefix("https://")?;
    let (host, path) = rest.split_once('/')?;
    let mut parts = host.split('.');
    let api_id = parts.next()?;
    if parts.next()? != "execute-api" {
        return None;
    }
    let region = parts.next()?;
    let stage = path.trim_end_matches('/');
    (!stage.is_empty() && !stage.contains('/'))
        .then(|| (api_id.to_string(), region.to_string(), stage.to_string()))
}

/// The stage name at the end of any management endpoint URL.
pub fn stage_of_endpoint(endpoint: &str) -> Option<String> {
    let rest = endpoint.split("://").nth(1)?;
    let (_, path) = rest.split_once('/')?;
    let stage = path.trim_end_matches('/');
    (!stage.is_empty() && !stage.contains('/')).then(|| stage.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_give_api_region_and_stage() {
        assert_eq!(
            parse_execute_api_endpoint(
                "https://abc123.execute-api.eu-west-1.amazonaws.com/production"
            ),
            Some(("abc123".into(), "eu-west-1".into(), "production".into()))
        );
        assert_eq!(
            parse_execute_api_endpoint("http://127.0.0.1:4510/production"),
            None
        );
        assert_eq!(
            stage_of_endpoint("http://127.0.0.1:4510/production/"),
            Some("production".into())
        );
    }
}
