//! What each effect does: the dashboard's I/O, run as a task by the runtime, its answer coming
//! back as an [`Action`]. Nothing here touches `App`: `update` asked for it, `update` gets the
//! answer. Every network call has a deadline ([`within`]).

use super::action::{Action, Effect};
use super::failure::Failure;
use crate::management::ManagementApi;
use crate::ops::audit::AuditLog;
use crate::ops::disconnect::disconnect_connections;
use crate::ops::pacing::{Pacing, RateController};
use crate::ops::probe::probe_records;
use crate::ops::purge::{execute_purge, plan_purge};
use crate::ops::push::{push_to_targets, PushOptions};
use crate::store::ConnectionStore;
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Every call an effect makes gives up after this long.
const CALL_DEADLINE: Duration = Duration::from_secs(15);

/// What the dashboard operates on.
#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn ConnectionStore>,
    pub gateway: Arc<dyn ManagementApi>,
    /// The one rate controller for every Management API call of this dashboard.
    pub rate: Arc<RateController>,
    pub concurrency: usize,
    pub audit: Option<Arc<AuditLog>>,
    pub emulator_admin: Option<String>,
    /// Where the details view reads a connection's access-log lines.
    pub access_logs: Option<Arc<dyn crate::access_logs::AccessLogSource>>,
    /// The stage's CloudWatch metrics (an execute-api endpoint on AWS).
    pub metrics: Option<Arc<crate::gateway_metrics::CloudWatchMetrics>>,
    /// What `:doctor` checks.
    pub doctor: Option<DoctorJob>,
}

/// What `:doctor` runs: the checks of this environment, made by whoever opened it.
pub type DoctorJob = Arc<
    dyn Fn() -> futures_util::future::BoxFuture<'static, Result<Vec<crate::doctor::Check>, String>>
        + Send
        + Sync,
>;

pub(super) async fn within<T>(
    what: &'static str,
    future: impl Future<Output = T>,
) -> Result<T, Failure> {
    tokio::time::timeout(CALL_DEADLINE, future)
        .await
        .map_err(|_| Failure::TimedOut {
            what,
            after: CALL_DEADLINE,
        })
}

/// Carry out `effect`; its answer, if it has one. `send` carries answers that come while it
/// runs (each push outcome as it arrives).
pub(super) async fn run(
    effect: Effect,
    backend: Backend,
    stop: crate::shutdown::StopRequest,
    send: impl Fn(Action) + Send + 'static,
) -> Option<Action> {
    let action = match effect {
        // Handled by the event loop, which owns the backend.
        Effect::SwitchEnvironment(_) | Effect::SetRate(_) | Effect::CopyToClipboard(_) => {
            return None
        }
        Effect::Scan => {
            let result = within("scan", backend.store.scan())
                .await
                .and_then(|r| r.map_err(Failure::from));
            Action::Scanned(result)
        }
        Effect::FindOrphans => {
            let Some(source) = &backend.access_logs else {
                return None;
            };
            let since_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
                as i64
                - crate::ops::orphans::LOOK_BACK_MS;
            Action::SessionsRead(
                within("reading the access log", source.sessions(since_ms))
                    .await
                    .and_then(|r| r.map_err(Failure::from)),
            )
        }
        Effect::ConfirmOrphans(candidates) => {
            let found = within(
                "confirming orphans",
                crate::ops::orphans::confirm(
                    candidates,
                    backend.store.as_ref(),
                    backend.gateway.clone(),
                    backend.concurrency,
                    Some(Pacing::background(&backend.rate)),
                ),
            )
            .await
            .and_then(|r| r.map_err(Failure::from));
            Action::OrphansFound(found.map(|report| report.orphans))
        }
        Effect::Probe(records) => Action::Probed(
            probe_records(
                backend.gateway.clone(),
                records,
                backend.concurrency,
                // Background sweeps yield every slot an operator's call is waiting for.
                Some(Pacing::background(&backend.rate)),
            )
            .await,
        ),
        Effect::Push { targets, payload } => {
            let (outcomes_tx, mut outcomes_rx) = mpsc::unbounded_channel();
            let forwarder = tokio::spawn(async move {
                while let Some(outcome) = outcomes_rx.recv().await {
                    send(Action::Delivered(outcome));
                }
            });
            let options = PushOptions {
                concurrency: backend.concurrency.max(16),
                progress: Some(outcomes_tx),
                audit: backend.audit.clone(),
                stop,
                pacing: Some(Pacing::operator(&backend.rate)),
                ..PushOptions::default()
            };
            let outcomes = push_to_targets(
                backend.gateway.clone(),
                Some(backend.store.clone()),
                targets,
                Bytes::from(payload),
                options,
            )
            .await;
            let _ = forwarder.await;
            Action::PushFinished(outcomes.len())
        }
        Effect::Disconnect {
            connection_ids,
            delete_record,
        } => Action::Disconnected(
            disconnect_connections(
                backend.gateway.as_ref(),
                Some(backend.store.as_ref()),
                &connection_ids,
                delete_record,
                backend.audit.as_deref(),
                &stop,
                Some(&Pacing::operator(&backend.rate)),
            )
            .await,
        ),
        Effect::PlanPurge => match within("scan", backend.store.scan_with_items()).await {
            Ok(Ok((snapshot, scanned))) => Action::PurgePlanned(
                plan_purge(
                    backend.gateway.clone(),
                    snapshot.records,
                    backend.concurrency,
                    // Planning probes every record: a sweep, at the background ceiling as
                    // `wsdash purge` goes, not the operator's higher one.
                    Some(Pacing::background(&backend.rate)),
                )
                .await
                .with_scanned_items(scanned),
            ),
            Ok(Err(e)) => Action::PurgePlanFailed(Failure::Store(e)),
            Err(e) => Action::PurgePlanFailed(e),
        },
        Effect::ExecutePurge(plan) => Action::Purged(
            execute_purge(
                backend.gateway.clone(),
                backend.store.as_ref(),
                &plan.0,
                backend.audit.as_deref(),
                &stop,
                backend.concurrency,
            )
            .await,
        ),
        Effect::Doctor => {
            let Some(job) = &backend.doctor else {
                return Some(Action::DoctorDone(Err(Failure::Doctor(
                    "doctor is not available here".into(),
                ))));
            };
            Action::DoctorDone(job().await.map_err(Failure::Doctor))
        }
        Effect::FetchMetrics(window) => {
            let Some(metrics) = &backend.metrics else {
                return None;
            };
            Action::GatewayMetrics(
                window,
                within(
                    "reading the stage's metrics",
                    metrics.over(time::OffsetDateTime::now_utc(), window),
                )
                .await
                .and_then(|r| r.map_err(Failure::Metrics)),
            )
        }
        Effect::TailLogs {
            pattern,
            since_ms,
            generation,
        } => {
            let Some(source) = &backend.access_logs else {
                return None;
            };
            Action::LogTail {
                generation,
                result: within("reading the access log", source.tail(&pattern, since_ms))
                    .await
                    .and_then(|r| r.map_err(Failure::from)),
            }
        }
        Effect::FetchHandshakes => {
            let Some(source) = &backend.access_logs else {
                return None;
            };
            let window = super::telemetry::HANDSHAKES_WINDOW;
            let since = time::OffsetDateTime::now_utc() - window;
            let since_ms = (since.unix_timestamp_nanos() / 1_000_000) as i64;
            Action::Handshakes(
                within("reading the access log", source.handshakes(since_ms))
                    .await
                    .and_then(|r| r.map_err(Failure::from)),
            )
        }
        Effect::FetchAccessLogs(connection_id) => {
            let Some(source) = &backend.access_logs else {
                return None;
            };
            let result = within(
                "reading the access log",
                source.for_connection(&connection_id),
            )
            .await
            .and_then(|r| r.map_err(Failure::from));
            Action::AccessLogs {
                connection_id,
                result,
            }
        }
        Effect::FetchEmulatorStats => {
            let Some(admin) = &backend.emulator_admin else {
                return None;
            };
            let result = async {
                reqwest::get(format!("{admin}/stats"))
                    .await?
                    .error_for_status()?
                    .json()
                    .await
            }
            .await
            .map_err(|e: reqwest::Error| Failure::EmulatorStats(e.to_string()));
            Action::EmulatorStats(result)
        }
    };
    Some(action)
}
