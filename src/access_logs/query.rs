//! Which lines to read: the query the emulator's `GET /_wsdash/logs` takes, and the part of
//! CloudWatch Logs' filter-pattern syntax it understands (terms, "quoted phrases", -exclusions),
//! so the logs panel's filter means the same in the demo as on AWS.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// CONNECT, MESSAGE or DISCONNECT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Lines at or after this time (epoch milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    /// A CloudWatch filter pattern made of terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The newest this many lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A term pattern: every `required` term appears in the line and no `excluded` one does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TermPattern {
    required: Vec<String>,
    excluded: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("JSON and space-delimited patterns need CloudWatch Logs; the emulator takes words, \"phrases\", -exclusions")]
    Unsupported,
    #[error("a quote is not closed in the filter pattern")]
    UnclosedQuote,
}

impl TermPattern {
    /// `ERROR "invalid token" -DISCONNECT`: as CloudWatch reads a term pattern. Matching is
    /// case-sensitive, as it is there.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let pattern = pattern.trim();
        if pattern.starts_with('{') || pattern.starts_with('[') || pattern.starts_with('%') {
            return Err(PatternError::Unsupported);
        }
        let mut parsed = TermPattern::default();
        let mut chars = pattern.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&first) = chars.peek() else {
                break;
            };
            let excluded = first == '-';
            if excluded {
                chars.next();
            }
            let term: String = if chars.peek() == Some(&'"') {
                chars.next();
                let mut phrase = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => phrase.push(c),
                        None => return Err(PatternError::UnclosedQuote),
                    }
                }
                phrase
            } else {
                let mut word = String::new();
                while let Some(c) = chars.peek().copied().filter(|c| !c.is_whitespace()) {
                    word.push(c);
                    chars.next();
                }
                word
            };
            if term.is_empty() {
                continue;
            }
            if excluded {
                parsed.excluded.push(term);
            } else {
                parsed.required.push(term);
            }
        }
        Ok(parsed)
    }

    pub fn matches(&self, line: &str) -> bool {
        self.required.iter().all(|t| line.contains(t.as_str()))
            && !self.excluded.iter().any(|t| line.contains(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_phrases_and_exclusions_read_as_cloudwatch_reads_them() {
        let line =
            r#"{"eventType":"CONNECT","status":401,"errorMessage":"invalid token: expired"}"#;
        let matches = |p: &str| TermPattern::parse(p).expect(p).matches(line);
        assert!(matches(""));
        assert!(matches("CONNECT 401"));
        assert!(matches("\"invalid token\""));
        assert!(matches("CONNECT -DISCONNECT"));
        assert!(!matches("CONNECT -401"));
        assert!(!matches("connect"), "case matters, as in CloudWatch");
        assert!(!matches("\"token invalid\""));
        assert_eq!(
            TermPattern::parse("{ $.status = 401 }"),
            Err(PatternError::Unsupported)
        );
        assert_eq!(
            TermPattern::parse("\"open"),
            Err(PatternError::UnclosedQuote)
        );
    }
}
