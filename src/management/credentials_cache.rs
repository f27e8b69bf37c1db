//! The credentials Management API calls are signed with: fetched from the environment's
//! provider once, kept until shortly before they expire, fetched again then. This is what the
//! SDK's own identity cache does (same margins); a call costs a read lock, not a provider
//! round trip, and a thousand calls starting at once cause one fetch, not a thousand.

use super::GatewayError;
use crate::aws_env::{cause_chain, credentials_failure, CredentialsFailure};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

/// Fetched again this long before they expire, so that no call is signed with credentials that
/// expire on the way (the SDK's `LazyCache` buffer).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(10);
/// Credentials that name no expiry are fetched again after this long (the SDK's default), so
/// that a rotated key in the environment's files is picked up.
const KEEP_WITHOUT_EXPIRY: Duration = Duration::from_secs(15 * 60);

pub struct CredentialsCache {
    provider: Option<SharedCredentialsProvider>,
    /// The credentials and until when they may be used.
    current: RwLock<Option<(Credentials, SystemTime)>>,
    /// Held by the one call that fetches; the others wait for its answer.
    fetching: tokio::sync::Mutex<()>,
}

impl CredentialsCache {
    pub fn new(provider: Option<SharedCredentialsProvider>) -> Self {
        Self {
            provider,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Credentials to sign a call with now. A failure is not kept: the next call asks the
    /// provider again, so that logging in again is enough to recover.
    pub async fn get(&self) -> Result<Credentials, GatewayError> {
        if let Some(credentials) = self.usable(SystemTime::now()) {
            return Ok(credentials);
        }
        let _only_fetch = self.fetching.lock().await;
        if let Some(credentials) = self.usable(SystemTime::now()) {
            return Ok(credentials);
        }
        let provider = self
            .provider
            .as_ref()
            .ok_or_else(|| GatewayError::Credentials(CredentialsFailure::NotFound.to_string()))?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            GatewayError::Credentials(
                credentials_failure(&e)
                    .map(|failure| failure.to_string())
                    .unwrap_or_else(|| cause_chain(&e)),
            )
        })?;
        let now = SystemTime::now();
        let until = match credentials.expiry() {
            Some(expiry) => expiry.checked_sub(REFRESH_BEFORE_EXPIRY).unwrap_or(now),
            None => now + KEEP_WITHOUT_EXPIRY,
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Some((credentials.clone(), until));
        Ok(credentials)
    }

    fn usable(&self, now: SystemTime) -> Option<Credentials> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|(_, until)| now < *until)
            .map(|(credentials, _)| credentials.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A provider that counts its fetches and hands out credentials expiring `expires_in`
    /// from each fetch.
    #[derive(Debug)]
    struct Counting {
        fetches: Arc<AtomicUsize>,
        expires_in: Option<Duration>,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst);
            let expiry = self.expires_in.map(|d| SystemTime::now() + d);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("key-{n}"),
                "secret",
                None,
                expiry,
                "test",
            )))
        }
    }

    fn cache(expires_in: Option<Duration>) -> (CredentialsCache, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let provider = Counting {
            fetches: fetches.clone(),
            expires_in,
        };
        (
            CredentialsCache::new(Some(SharedCredentialsProvider::new(provider))),
            fetches,
        )
    }

    #[tokio::test]
    async fn many_calls_at_once_fetch_once() {
        let (cache, fetches) = cache(Some(Duration::from_secs(3600)));
        let cache = Arc::new(cache);
        let calls: Vec<_> = (0..100)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(
                    async move { cache.get().await.map(|c| c.access_key_id().to_string()) },
                )
            })
            .collect();
        for call in calls {
            assert_eq!(
                call.await.ok().and_then(Result::ok).as_deref(),
                Some("key-0")
            );
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_about_to_expire_are_fetched_again() {
        // Expiring within the refresh margin: never reused.
        let (cache, fetches) = cache(Some(REFRESH_BEFORE_EXPIRY / 2));
        for _ in 0..3 {
            assert!(cache.get().await.is_ok());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn no_provider_says_how_to_get_credentials() {
        let cache = CredentialsCache::new(None);
        match cache.get().await {
            Err(GatewayError::Credentials(words)) => {
                assert!(words.contains("aws sso login"), "{words}")
            }
            other => panic!("expected a credentials error, got {other:?}"),
        }
    }
}
