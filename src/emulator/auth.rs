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
}

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
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = ["sub".to_string()].into_iter().collect();
        let data = decode::<Claims>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .map_err(|e| AuthError::Invalid(e.to_string()))?;
        if !valid_user_id(&data.claims.sub) {
            return Err(AuthError::Invalid(
                "the token's sub is not a usable user id".into(),
            ));
        }
        Ok(data.claims.sub)
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
}
