//! Progress on stderr for long headless operations, when stderr is a terminal. It wraps the
//! Management API, so every operation gets it without `ops` knowing about terminals.

use crate::management::{GatewayError, ManagementApi};
use crate::model::ConnectionInfo;
use async_trait::async_trait;
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;

struct CountingGateway {
    inner: Arc<dyn ManagementApi>,
    bar: ProgressBar,
}

#[async_trait]
impl ManagementApi for CountingGateway {
    async fn post_to_connection(
        &self,
        connection_id: &str,
        data: Bytes,
    ) -> Result<(), GatewayError> {
        let result = self.inner.post_to_connection(connection_id, data).await;
        self.bar.inc(1);
        result
    }
    async fn get_connection(&self, connection_id: &str) -> Result<ConnectionInfo, GatewayError> {
        let result = self.inner.get_connection(connection_id).await;
        self.bar.inc(1);
        result
    }
    async fn delete_connection(&self, connection_id: &str) -> Result<(), GatewayError> {
        let result = self.inner.delete_connection(connection_id).await;
        self.bar.inc(1);
        result
    }
    fn endpoint(&self) -> &str {
        self.inner.endpoint()
    }
}

/// Before long work, say on stderr at what rate it will go and how long that takes, so an
/// operator who expected seconds knows at once it will be minutes (and can pass `--rate`).
pub fn announce(
    what: &str,
    calls: usize,
    rate: &crate::ops::pacing::RateController,
    lane: crate::ops::pacing::Lane,
) {
    if calls < 2 {
        return;
    }
    let status = match lane {
        crate::ops::pacing::Lane::Operator => rate.status().for_operator(),
        crate::ops::pacing::Lane::Background => rate.status(),
    };
    match status.eta(calls) {
        Some(eta) => eprintln!(
            "{what} {calls} at most {} ({}; --rate to change): about {}",
            status.describe(),
            match lane {
                crate::ops::pacing::Lane::Operator =>
                    "the operator's ceiling, 20% of the account's 10,000/s by default against AWS",
                crate::ops::pacing::Lane::Background =>
                    "the background ceiling, 5% of the account's 10,000/s by default against AWS",
            },
            crate::model::format_age(time::Duration::seconds_f64(eta.as_secs_f64().ceil()))
        ),
        None => {
            eprintln!("{what} {calls}, no rate ceiling (loopback endpoint or --rate unlimited)")
        }
    }
}

/// Run `work` with a gateway that counts its calls on a progress bar (when stderr is a
/// terminal and there is more than one call to make), and clear the bar when it is done.
pub async fn with_progress<T, F, Fut>(
    gateway: Arc<dyn ManagementApi>,
    what: &str,
    expected_calls: usize,
    work: F,
) -> T
where
    F: FnOnce(Arc<dyn ManagementApi>) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    if !std::io::stderr().is_terminal() || expected_calls < 2 {
        return work(gateway).await;
    }
    let bar = ProgressBar::new(expected_calls as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} calls, {per_sec}, eta {eta}")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    let counting: Arc<dyn ManagementApi> = Arc::new(CountingGateway {
        inner: gateway,
        bar: bar.clone(),
    });
    let result = work(counting).await;
    bar.finish_and_clear();
    result
}
