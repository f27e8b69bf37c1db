//! Log setup: servers log to stderr, the dashboard to a file; every line is redacted first.
//!
//! Libraries log what they see: at trace level tungstenite prints the handshake's request line,
//! whose query string carries the client's token, and HTTP clients may print headers. Redacting
//! at the writer covers every line from every crate, at every level.

use regex_lite::Regex;
use std::borrow::Cow;
use std::io::Write;
use std::sync::OnceLock;

fn query_value() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"([?&][A-Za-z0-9_.~%\-\[\]]+=)[^&\s"'<>#]+"#).expect("query pattern")
    })
}

fn credential() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?i)((?:authorization|x-amz-security-token|x-api-key|cookie)["']?\s*[:=]\s*["']?(?:bearer\s+|basic\s+)?)[^\s"',}]+"#,
        )
        .expect("credential pattern")
    })
}

/// `line` with every query-string value and every credential header value replaced.
pub fn redact(line: &str) -> Cow<'_, str> {
    let line = query_value().replace_all(line, "${1}[redacted]");
    match credential().replace_all(&line, "${1}[redacted]") {
        Cow::Borrowed(_) => line,
        Cow::Owned(owned) => Cow::Owned(owned),
    }
}

/// Redacts each formatted event (the fmt layer writes one event per `write_all`).
pub struct Redacting<W: Write>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The filter from `WSDASH_LOG`, or the default that keeps the SDK's noise out.
fn filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("WSDASH_LOG").unwrap_or_else(|_| {
        // The SDK's own warnings (e.g. each failed instance-metadata lookup) would bury the
        // one error message that says what to do.
        "info,aws_config=error,aws_smithy_runtime=error".into()
    })
}

/// Servers log to stderr; the dashboard owns the screen, so it logs to a file next to the audit log.
pub fn init(dashboard: bool) {
    if dashboard {
        let path = crate::config::default_audit_path().with_file_name("wsdash.log");
        let file = path.parent().map(std::fs::create_dir_all).and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .ok()
        });
        // No log file is better than log lines over the dashboard.
        if let Some(file) = file {
            let file = std::sync::Arc::new(file);
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_ansi(false)
                .with_writer(move || Redacting(file.clone()))
                .init();
        }
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(|| Redacting(std::io::stderr()))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_and_credentials_are_redacted() {
        assert_eq!(
            redact("GET /production?token=eyJhbGciOi.abc.def HTTP/1.1"),
            "GET /production?token=[redacted] HTTP/1.1"
        );
        assert_eq!(
            redact("uri=ws://h/p?a=1&token=dev:alice#x"),
            "uri=ws://h/p?a=[redacted]&token=[redacted]#x"
        );
        assert_eq!(
            redact(r#"headers: {"authorization": "Bearer s3cr3t", "x": "y"}"#),
            r#"headers: {"authorization": "Bearer [redacted]", "x": "y"}"#
        );
        assert_eq!(
            redact("Authorization: AWS4-HMAC-SHA256"),
            "Authorization: [redacted]"
        );
        assert_eq!(redact("nothing to hide here"), "nothing to hide here");
    }
}
