//! IAM identity policies for the Management API, evaluated as AWS does for one request: an
//! explicit Deny wins, then any Allow, else the request is denied.
//!
//! The resource of a Management API call carries its HTTP verb:
//! `arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/VERB/@connections/CONNECTION_ID`, so a policy
//! that grants `POST` (the guide's) lets pushes through and denies GetConnection and
//! DeleteConnection.

use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// The action every Management API call needs.
pub const MANAGE_CONNECTIONS: &str = "execute-api:ManageConnections";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// An identity policy (`--iam-policy FILE`), or everything allowed when none is given.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `None`: no policy configured, every call allowed (an administrator's credentials).
    statements: Option<Vec<Statement>>,
}

/// The outcome for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    /// A Deny statement matches.
    ExplicitDeny,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("--iam-policy {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--iam-policy {path}: not policy JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("--iam-policy {path}: {problem}")]
    Unsupported { path: String, problem: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyDocument {
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<String>,
    statement: Value,
}

/// The guide's §2 policy: POST only, for any API and stage of the account.
pub const GUIDE_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "execute-api:ManageConnections",
      "Resource": "arn:aws:execute-api:*:*:*/*/POST/@connections/*"
    }
  ]
}"#;

fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("every {what} must be a string"))
            })
            .collect(),
        Some(_) => Err(format!("{what} must be a string or a list of strings")),
        None => Err(format!("a statement has no {what}")),
    }
}

impl Policy {
    /// Every call allowed.
    pub fn allow_all() -> Self {
        Self::default()
    }

    /// `guide` for the guide's policy, else a policy JSON file.
    pub fn load(spec: &str) -> Result<Self, PolicyError> {
        if spec == "guide" {
            return Self::parse(GUIDE_POLICY, "guide");
        }
        let text =
            std::fs::read_to_string(Path::new(spec)).map_err(|source| PolicyError::Read {
                path: spec.to_string(),
                source,
            })?;
        Self::parse(&text, spec)
    }

    pub fn parse(text: &str, path: &str) -> Result<Self, PolicyError> {
        let document: PolicyDocument =
            serde_json::from_str(text).map_err(|source| PolicyError::Json {
                path: path.to_string(),
                source,
            })?;
        let unsupported = |problem: String| PolicyError::Unsupported {
            path: path.to_string(),
            problem,
        };
        let raw = match document.statement {
            Value::Array(items) => items,
            single @ Value::Object(_) => vec![single],
            _ => return Err(unsupported("Statement must be an object or a list".into())),
        };
        let mut statements = Vec::with_capacity(raw.len());
        for statement in raw {
            for key in ["NotAction", "NotResource", "Condition", "Principal"] {
                if statement.get(key).is_some() {
                    return Err(unsupported(format!(
                        "{key} is not supported by the emulator; write the statement with Action and Resource"
                    )));
                }
            }
            let effect = match statement.get("Effect").and_then(Value::as_str) {
                Some("Allow") => Effect::Allow,
                Some("Deny") => Effect::Deny,
                other => {
                    return Err(unsupported(format!(
                        "Effect must be \"Allow\" or \"Deny\", got {other:?}"
                    )))
                }
            };
            statements.push(Statement {
                effect,
                actions: strings(statement.get("Action"), "Action").map_err(unsupported)?,
                resources: strings(statement.get("Resource"), "Resource").map_err(unsupported)?,
            });
        }
        Ok(Self {
            statements: Some(statements),
        })
    }

    pub fn decide(&self, action: &str, resource: &str) -> Decision {
        let Some(statements) = &self.statements else {
            return Decision::Allowed;
        };
        let matching = |s: &&Statement| {
            // Action names are case-insensitive in IAM; resources are not.
            s.actions
                .iter()
                .any(|a| wildcard_match(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
                && s.resources.iter().any(|r| wildcard_match(r, resource))
        };
        let mut allowed = false;
        for statement in statements.iter().filter(matching) {
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Decision::Allowed
        } else {
            Decision::ImplicitDeny
        }
    }

    pub fn describe(&self) -> String {
        match &self.statements {
            None => "none (every call allowed)".into(),
            Some(s) => format!("{} statement(s)", s.len()),
        }
    }
}

/// IAM's wildcards: `*` any run of characters (also across `/` and `:`), `?` any one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The resource a Management API call is authorised against.
pub fn connection_resource(
    region: &str,
    account_id: &str,
    api_id: &str,
    stage: &str,
    verb: &str,
    connection_id: &str,
) -> String {
    format!("arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/{verb}/@connections/{connection_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(verb: &str) -> String {
        connection_resource(
            "us-east-1",
            "123456789012",
            "abc",
            "production",
            verb,
            "L0SM9cOFvHcCIhw=",
        )
    }

    #[test]
    fn the_guides_policy_allows_post_and_denies_get_and_delete() {
        let policy = Policy::load("guide").expect("built in");
        assert_eq!(
            policy.decide(MANAGE_CONNECTIONS, &resource("POST")),
            Decision::Allowed
        );
        assert_eq!(
            policy.decide(MANAGE_CONNECTIONS, &resource("GET")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            policy.decide(MANAGE_CONNECTIONS, &resource("DELETE")),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn an_explicit_deny_wins_over_any_allow_and_actions_ignore_case() {
        let policy = Policy::parse(
            r#"{"Statement": [
                {"Effect": "Allow", "Action": "execute-api:*", "Resource": "*"},
                {"Effect": "Deny", "Action": ["EXECUTE-API:managEConnections"], "Resource": "arn:aws:execute-api:*:*:abc/*/DELETE/*"}
            ]}"#,
            "test",
        )
        .expect("valid");
        assert_eq!(
            policy.decide(MANAGE_CONNECTIONS, &resource("GET")),
            Decision::Allowed
        );
        assert_eq!(
            policy.decide(MANAGE_CONNECTIONS, &resource("DELETE")),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn conditions_are_refused_rather_than_ignored() {
        let err = Policy::parse(
            r#"{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {}}}"#,
            "p.json",
        )
        .expect_err("unsupported");
        assert!(err.to_string().contains("Condition"), "{err}");
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "abbc"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("abc", "abcd"));
    }
}
