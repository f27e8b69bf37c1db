//! The Management API's answers as they arrive (restJson1): the error type and message of a
//! refusal, and GetConnection's body. Read the way the SDK's generated code reads them, so that
//! an answer means the same here as it does to every other AWS client.

use crate::model::ConnectionInfo;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An error answer's type (e.g. `GoneException`) and message. The type comes from the
/// `x-amzn-ErrorType` header when there is one, else from the body's `code` or `__type`;
/// either may carry a namespace (`aws#GoneException`) or a URL (`Gone:http://…`), which are
/// dropped, as the SDK does.
pub fn error_type_and_message(
    error_type_header: Option<&str>,
    body: &[u8],
) -> (Option<String>, Option<String>) {
    #[derive(Deserialize, Default)]
    struct ErrorBody {
        code: Option<String>,
        #[serde(rename = "__type")]
        type_: Option<String>,
        #[serde(alias = "Message", alias = "errorMessage")]
        message: Option<String>,
    }
    // A body that is not a JSON object (a proxy's HTML page, nothing at all) has no type and
    // no message; the header may still name the type.
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let error_type = error_type_header
        .map(str::to_string)
        .or(parsed.code)
        .or(parsed.type_)
        .map(|t| sanitize_error_type(&t).to_string())
        .filter(|t| !t.is_empty());
    (error_type, parsed.message)
}

fn sanitize_error_type(raw: &str) -> &str {
    let without_url = raw.split(':').next().unwrap_or(raw);
    match without_url.find('#') {
        Some(at) => &without_url[at + 1..],
        None => without_url,
    }
}

/// GetConnection's answer: `connectedAt` and `lastActiveAt` as ISO-8601 date-times, the
/// caller's `identity`. An answer that is not this shape is not the Management API's.
pub fn connection_info(body: &[u8]) -> Result<ConnectionInfo, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Identity {
        source_ip: Option<String>,
        user_agent: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        connected_at: Option<String>,
        last_active_at: Option<String>,
        identity: Option<Identity>,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let time = |field: &str, value: Option<String>| -> Result<Option<OffsetDateTime>, String> {
        value
            .map(|text| {
                OffsetDateTime::parse(&text, &Rfc3339)
                    .map_err(|e| format!("{field} {text:?} is not an ISO-8601 date-time: {e}"))
            })
            .transpose()
    };
    let identity = answer.identity;
    Ok(ConnectionInfo {
        connected_at: time("connectedAt", answer.connected_at)?,
        last_active_at: time("lastActiveAt", answer.last_active_at)?,
        source_ip: identity.as_ref().and_then(|i| i.source_ip.clone()),
        user_agent: identity.and_then(|i| i.user_agent),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_the_type_before_the_body() {
        let (t, m) = error_type_and_message(
            Some("GoneException:http://internal.amazon.com/"),
            br#"{"__type": "Other", "message": "gone"}"#,
        );
        assert_eq!(t.as_deref(), Some("GoneException"));
        assert_eq!(m.as_deref(), Some("gone"));
    }

    #[test]
    fn the_body_names_the_type_without_its_namespace() {
        let (t, m) = error_type_and_message(
            None,
            br#"{"__type": "com.amazonaws#ForbiddenException", "Message": "no"}"#,
        );
        assert_eq!(t.as_deref(), Some("ForbiddenException"));
        assert_eq!(m.as_deref(), Some("no"));
        let (t, _) = error_type_and_message(None, br#"{"code": "LimitExceededException"}"#);
        assert_eq!(t.as_deref(), Some("LimitExceededException"));
    }

    #[test]
    fn a_page_that_is_not_json_has_no_type() {
        assert_eq!(
            error_type_and_message(None, b"<html>502 Bad Gateway</html>"),
            (None, None)
        );
    }

    #[test]
    fn get_connection_reads_times_and_identity() {
        let info = connection_info(
            br#"{"connectedAt":"2026-11-30T10:00:00.123Z","identity":{"sourceIp":"10.0.0.1","userAgent":"ua"},"lastActiveAt":"2026-11-30T10:05:00Z"}"#,
        )
        .expect("parses");
        assert_eq!(info.source_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(info.user_agent.as_deref(), Some("ua"));
        assert_eq!(
            info.connected_at.map(|t| t.millisecond()),
            Some(123),
            "{info:?}"
        );
        assert!(info.last_active_at.is_some());
        assert!(connection_info(b"<html/>").is_err());
        assert!(connection_info(br#"{"connectedAt":"yesterday"}"#).is_err());
    }
}
