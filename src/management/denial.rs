//! Why the gateway answered 403, classified once from the error type (never from its text), with
//! the evidence a refusal carries (the gateway's clock in its `Date` header), and said in the
//! operator's words with what to do.

/// The HTTP verb of a Management API call: IAM authorises each one separately
/// (`…/STAGE/VERB/@connections/*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// PostToConnection.
    Post,
    /// GetConnection.
    Get,
    /// DeleteConnection.
    Delete,
}

impl Verb {
    pub const ALL: [Verb; 3] = [Verb::Post, Verb::Get, Verb::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Post => "POST",
            Verb::Get => "GET",
            Verb::Delete => "DELETE",
        }
    }

    pub fn operation(self) -> &'static str {
        match self {
            Verb::Post => "PostToConnection",
            Verb::Get => "GetConnection",
            Verb::Delete => "DeleteConnection",
        }
    }

    /// The wsdash features that need this verb: what a denial turns off.
    pub fn features(self) -> &'static str {
        match self {
            Verb::Post => "pushes",
            Verb::Get => "probes, stale detection and purge",
            Verb::Delete => "disconnect",
        }
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialCause {
    /// AccessDeniedException: the IAM policy does not grant this verb.
    IamDenied,
    /// InvalidSignatureException, with the clocks agreeing: the secret, or the region signed for.
    BadSignature,
    /// InvalidSignatureException with the gateway's clock far from ours.
    ClockSkew,
    /// UnrecognizedClientException: the access key (or its session token) is unknown.
    UnknownKey,
    /// ExpiredTokenException: the temporary credentials' session ended.
    ExpiredSession,
    /// MissingAuthenticationTokenException or IncompleteSignatureException: not signed, or not a
    /// path the gateway serves.
    Unsigned,
    /// ForbiddenException or a bare 403: a wrong stage, or the gateway's own refusal.
    Forbidden,
}

impl DenialCause {
    /// The cause an AWS error type names, if it is a refusal at all.
    pub fn from_code(code: Option<&str>) -> Option<Self> {
        Some(match code? {
            "AccessDeniedException" => DenialCause::IamDenied,
            "InvalidSignatureException" | "SignatureDoesNotMatch" => DenialCause::BadSignature,
            "UnrecognizedClientException" | "InvalidClientTokenId" => DenialCause::UnknownKey,
            "ExpiredTokenException" | "ExpiredToken" => DenialCause::ExpiredSession,
            "MissingAuthenticationTokenException" | "IncompleteSignatureException" => {
                DenialCause::Unsigned
            }
            "ForbiddenException" => DenialCause::Forbidden,
            _ => return None,
        })
    }

    /// For JSON output (`cause`).
    pub fn as_str(self) -> &'static str {
        match self {
            DenialCause::IamDenied => "iam_denied",
            DenialCause::BadSignature => "bad_signature",
            DenialCause::ClockSkew => "clock_skew",
            DenialCause::UnknownKey => "unknown_key",
            DenialCause::ExpiredSession => "expired_session",
            DenialCause::Unsigned => "unsigned",
            DenialCause::Forbidden => "forbidden",
        }
    }
}

/// Beyond this the gateway's `Date` and ours disagree enough to explain a refused signature
/// (AWS allows 15 minutes; a few seconds of transit and rounding must not count).
pub const CLOCK_SKEW_EVIDENCE_SECS: i64 = 5 * 60;

/// What a Management API client knows of the call it made: which verb, which region it signed
/// for and why, with whose credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    pub verb: Verb,
    pub region: String,
    /// The region came from an execute-api host name, so it cannot be the wrong one.
    pub region_from_host: bool,
    pub profile: Option<String>,
    /// The gateway's clock minus ours, in seconds, from the answer's `Date` header.
    pub clock_offset_secs: Option<i64>,
}

impl CallContext {
    pub fn for_tests(verb: Verb) -> Self {
        Self {
            verb,
            region: "us-east-1".into(),
            region_from_host: false,
            profile: None,
            clock_offset_secs: None,
        }
    }
}

/// One refusal: its cause, the gateway's own message, and the call it refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub cause: DenialCause,
    pub aws_message: String,
    pub context: CallContext,
}

impl Denial {
    pub fn new(cause: DenialCause, aws_message: String, context: &CallContext) -> Self {
        let skewed = context
            .clock_offset_secs
            .is_some_and(|offset| offset.abs() > CLOCK_SKEW_EVIDENCE_SECS);
        let cause = match cause {
            DenialCause::BadSignature if skewed => DenialCause::ClockSkew,
            other => other,
        };
        Self {
            cause,
            aws_message,
            context: context.clone(),
        }
    }

    fn whose(&self) -> String {
        crate::aws_env::describe_profile(self.context.profile.as_deref())
    }

    fn login(&self) -> String {
        crate::aws_env::login_command(self.context.profile.as_deref())
    }

    /// The fix, in one sentence.
    pub fn fix(&self) -> String {
        let verb = self.context.verb;
        match self.cause {
            DenialCause::IamDenied => format!(
                "grant execute-api:ManageConnections on arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/{}/@connections/* (`wsdash doctor` prints the whole least-privilege policy)",
                verb.as_str()
            ),
            DenialCause::BadSignature if self.context.region_from_host => format!(
                "the secret access key of {} does not match its access key id: fix the profile's credentials",
                self.whose()
            ),
            DenialCause::BadSignature => format!(
                "wsdash signed for region {}: if the API is in another region pass --region REGION (or set region in the environment; an execute-api URL names it); otherwise the secret access key of {} is wrong",
                self.context.region,
                self.whose()
            ),
            DenialCause::ClockSkew => {
                let offset = self.context.clock_offset_secs.unwrap_or_default();
                format!(
                    "this machine's clock is {} min {} the gateway's and AWS refuses signatures more than 15 min off: sync the clock (e.g. `timedatectl set-ntp true`)",
                    (offset.abs() + 30) / 60,
                    if offset > 0 { "behind" } else { "ahead of" }
                )
            }
            DenialCause::UnknownKey => format!(
                "the access key of {} is not known to AWS (deleted, never activated, or from another account or partition): use a current key or another profile (--profile)",
                self.whose()
            ),
            DenialCause::ExpiredSession => format!(
                "the session of {} expired: log in again (`{}`) and wsdash picks the new credentials up by itself",
                self.whose(),
                self.login()
            ),
            DenialCause::Unsigned => "the request was not signed, or its path is not a stage's @connections: check that the endpoint is the stage URL (https://API_ID.execute-api.REGION.amazonaws.com/STAGE)".into(),
            DenialCause::Forbidden => "check that the endpoint names an existing stage (https://API_ID.execute-api.REGION.amazonaws.com/STAGE)".into(),
        }
    }

    /// What the refusal means for the operator, before the fix.
    pub fn summary(&self) -> String {
        let verb = self.context.verb;
        match self.cause {
            DenialCause::IamDenied => format!(
                "{} ({}) denied by IAM: {} off",
                verb.operation(),
                verb.as_str(),
                verb.features()
            ),
            DenialCause::BadSignature => "the gateway refused the signature".into(),
            DenialCause::ClockSkew => {
                "the gateway refused the signature: the clocks disagree".into()
            }
            DenialCause::UnknownKey => "the gateway does not know the access key".into(),
            DenialCause::ExpiredSession => "the credentials' session expired".into(),
            DenialCause::Unsigned => "the gateway saw no valid signature".into(),
            DenialCause::Forbidden => "forbidden by the gateway".into(),
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "forbidden (403): {}; {} (AWS: {})",
            self.summary(),
            self.fix(),
            self.aws_message.trim()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_signature_with_the_clocks_apart_is_clock_skew() {
        let mut context = CallContext::for_tests(Verb::Post);
        context.clock_offset_secs = Some(20 * 60);
        let denial = Denial::new(
            DenialCause::BadSignature,
            "Signature expired".into(),
            &context,
        );
        assert_eq!(denial.cause, DenialCause::ClockSkew);
        assert!(denial.to_string().contains("20 min behind"), "{denial}");
        context.clock_offset_secs = Some(2);
        let denial = Denial::new(DenialCause::BadSignature, "x".into(), &context);
        assert_eq!(denial.cause, DenialCause::BadSignature);
    }

    #[test]
    fn an_iam_denial_names_the_verb_and_what_it_turns_off() {
        let denial = Denial::new(
            DenialCause::IamDenied,
            "User: x is not authorized".into(),
            &CallContext::for_tests(Verb::Get),
        );
        let text = denial.to_string();
        assert!(
            text.contains("GetConnection (GET) denied by IAM: probes"),
            "{text}"
        );
        assert!(text.contains("/GET/@connections/*"), "{text}");
    }

    #[test]
    fn the_wrong_secret_is_named_when_the_region_came_from_the_host() {
        let mut context = CallContext::for_tests(Verb::Post);
        context.region_from_host = true;
        context.profile = Some("prod".into());
        let denial = Denial::new(DenialCause::BadSignature, "does not match".into(), &context);
        assert!(
            denial.fix().contains("secret access key of profile `prod`"),
            "{}",
            denial.fix()
        );
    }
}
