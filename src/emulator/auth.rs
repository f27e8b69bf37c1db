//! How the reference backend turns the `token` query parameter into a user id.

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Clone, Default)]
pub struct TokenAuth {
    jwt_secret: Option<String>,
    dev_tokens: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing token: connect with ?token=...")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    iat: Option<f64>,
}

/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const JWT_LEEWAY_SECS: u64 = 30;

impl TokenAuth {
    /// `jwt_secret` accepts HS256 JWTs whose `sub` is the user; `dev_tokens` accepts `dev:<user_id>`.
    pub fn new(jwt_secret: Option<String>, dev_tokens: bool) -> Self {
        Self {
            jwt_secret,
            dev_tokens,
        }
    }

    pub fn authenticate(&self, token: Option<&str>) -> Result<String, AuthError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        if let Some(user) = token.strip_prefix("dev:") {
            if !self.dev_tokens {
                return Err(AuthError::Invalid(
                    "dev tokens are disabled (start the backend with --dev-tokens)".into(),
                ));
            }
            if !valid_user_id(user) {
                return Err(AuthError::Invalid(
                    "dev token needs a user id: dev:<user_id>".into(),
                ));
            }
            return Ok(user.to_string());
        }
        let Some(secret) = &self.jwt_secret else {
            return Err(AuthError::Invalid(
                "not a dev token, and no --jwt-secret is configured".into(),
            ));
        };
        // A token without `exp` would be good forever: it is refused, as are tokens not valid
        // yet (`nbf`) or issued in the future (`iat`), beyond a small clock skew.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = ["sub", "exp"].into_iter().map(String::from).collect();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = JWT_LEEWAY_SECS;
        let data = decode::<Claims>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .map_err(|e| AuthError::Invalid(describe_jwt_error(&e)))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        if let Some(iat) = data.claims.iat {
            if !iat.is_finite() || iat > now + JWT_LEEWAY_SECS as f64 {
                return Err(AuthError::Invalid(
                    "the token's iat (issued at) is in the future".into(),
                ));
            }
        }
        if !valid_user_id(&data.claims.sub) {
            return Err(AuthError::Invalid(
                "the token's sub is not a usable user id".into(),
            ));
        }
        Ok(data.claims.sub)
    }
}

fn describe_jwt_error(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the token has no {claim:?} claim (tokens must expire)")
        }
        ErrorKind::ExpiredSignature => "the token has expired (exp)".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        _ => e.to_string(),
    }
}

fn valid_user_id(user: &str) -> bool {
    !user.is_empty() && user.len() <= 256 && !user.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    #[test]
    fn dev_tokens_only_when_enabled() {
        assert_eq!(
            TokenAuth::new(None, true).authenticate(Some("dev:alice")),
            Ok("alice".into())
        );
        assert!(TokenAuth::new(None, false)
            .authenticate(Some("dev:alice"))
            .is_err());
        assert!(TokenAuth::new(None, true)
            .authenticate(Some("dev:"))
            .is_err());
        assert_eq!(
            TokenAuth::new(None, true).authenticate(None),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn jwts_are_checked_against_the_secret() {
        let claims = serde_json::json!({"sub": "bob", "exp": 4_000_000_000u64});
        let token = encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        let auth = TokenAuth::new(Some("s3cret".into()), false);
        assert_eq!(auth.authenticate(Some(&token)), Ok("bob".into()));
        let wrong = TokenAuth::new(Some("other".into()), false);
        assert!(wrong.authenticate(Some(&token)).is_err());
        let expired = serde_json::json!({"sub": "bob", "exp": 1_000u64});
        let token = encode(
            &Header::default(),
            &expired,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(auth.authenticate(Some(&token)).is_err());
    }

    #[test]
    fn tokens_must_expire_and_must_not_come_from_the_future() {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let sign = |claims: serde_json::Value| {
            encode(&Header::default(), &claims, &EncodingKey::from_secret(b"k")).unwrap()
        };
        let auth = TokenAuth::new(Some("k".into()), false);
        let check = |claims: serde_json::Value| auth.authenticate(Some(&sign(claims)));
        assert_eq!(
            check(serde_json::json!({"sub": "u", "exp": now + 600, "iat": now, "nbf": now})),
            Ok("u".into())
        );
        // Within the leeway: a few seconds of skew between machines.
        assert!(check(serde_json::json!({"sub": "u", "exp": now + 600, "nbf": now + 10})).is_ok());
        let refused = [
            (serde_json::json!({"sub": "u"}), "exp"),
            (serde_json::json!({"sub": "u", "exp": now - 120}), "expired"),
            (
                serde_json::json!({"sub": "u", "exp": now + 7200, "nbf": now + 3600}),
                "not valid yet",
            ),
            (
                serde_json::json!({"sub": "u", "exp": now + 7200, "iat": now + 3600}),
                "future",
            ),
        ];
        for (claims, why) in refused {
            match check(claims.clone()) {
                Err(AuthError::Invalid(message)) => {
                    assert!(message.contains(why), "{claims}: {message}")
                }
                other => panic!("{claims} must be refused, got {other:?}"),
            }
        }
    }
}
