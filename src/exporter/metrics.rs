//! The exporter's metric families, named by Prometheus's conventions: one `wsdash_` prefix,
//! base units, `_total` counters, and the labels `env`, `api_id`, `stage`, `region` on every
//! series. No label ever holds a user or connection id: the series stay few however big the
//! table grows.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// Which environment a series is about.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabels {
    pub env: String,
    pub api_id: String,
    pub stage: String,
    pub region: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    #[prometheus(flatten)]
    pub env: EnvLabels,
    /// live, stale, expired, unknown, unprobed, malformed.
    pub state: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    #[prometheus(flatten)]
    pub env: EnvLabels,
    /// live, gone, or the failure's cause (throttled, iam_denied, network, …).
    pub result: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BoundLabels {
    #[prometheus(flatten)]
    pub env: EnvLabels,
    /// estimate, low, high: the share and its 95 % interval while a sweep is incomplete.
    pub bound: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    #[prometheus(flatten)]
    pub env: EnvLabels,
    /// The HTTP status the gateway answered the handshake with.
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    #[prometheus(flatten)]
    pub env: EnvLabels,
    /// What kind of failure: network, throttled, access_denied, table_not_found, …
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub version: String,
}

pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Every family, each a handle onto the registry's copy.
#[derive(Clone, Default)]
pub struct Metrics {
    pub records: Family<StateLabels, Gauge>,
    pub stale_share: Family<BoundLabels, FloatGauge>,
    pub probes: Family<ResultLabels, Counter>,
    pub probe_coverage: Family<EnvLabels, FloatGauge>,
    pub oldest_answer_age: Family<EnvLabels, FloatGauge>,
    pub rate_ceiling: Family<EnvLabels, FloatGauge>,
    pub rate_current: Family<EnvLabels, FloatGauge>,
    pub throttles: Family<EnvLabels, Counter>,
    pub refused_handshakes: Family<StatusLabels, Counter>,
    pub flapping_users: Family<EnvLabels, Gauge>,
    pub records_appeared: Family<EnvLabels, Counter>,
    pub records_vanished: Family<EnvLabels, Counter>,
    pub scan_errors: Family<KindLabels, Counter>,
    pub access_log_errors: Family<KindLabels, Counter>,
    pub store_up: Family<EnvLabels, Gauge>,
    pub orphans: Family<EnvLabels, Gauge>,
    pub scan_duration: Family<EnvLabels, FloatGauge>,
    pub last_sweep: Family<EnvLabels, FloatGauge>,
    pub build_info: Family<VersionLabels, Gauge>,
}

impl Metrics {
    /// The families, registered under their names.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "wsdash_records",
            "Connection records by state, as the last probe sweep left them",
            self.records.clone(),
        );
        registry.register_with_unit(
            "wsdash_stale_share",
            "Share of probed records the gateway answered Gone for; while a sweep is incomplete, an estimate from a random sample with its 95 % interval (bound label)",
            Unit::Other("ratio".into()),
            self.stale_share.clone(),
        );
        registry.register(
            "wsdash_probes",
            "GetConnection answers by result",
            self.probes.clone(),
        );
        registry.register_with_unit(
            "wsdash_probe_coverage",
            "Share of the probeable records that have an answer",
            Unit::Other("ratio".into()),
            self.probe_coverage.clone(),
        );
        registry.register_with_unit(
            "wsdash_probe_oldest_answer_age",
            "Age of the oldest probe answer still in use",
            Unit::Seconds,
            self.oldest_answer_age.clone(),
        );
        registry.register(
            "wsdash_rate_ceiling_calls_per_second",
            "Management API calls per second the background sweeps may make at most (+Inf: no ceiling)",
            self.rate_ceiling.clone(),
        );
        registry.register(
            "wsdash_rate_current_calls_per_second",
            "Management API calls per second allowed now (below the ceiling after throttling)",
            self.rate_current.clone(),
        );
        registry.register(
            "wsdash_throttles",
            "Management API calls answered 429",
            self.throttles.clone(),
        );
        registry.register(
            "wsdash_refused_handshakes",
            "WebSocket handshakes the gateway refused, by status, from the access log",
            self.refused_handshakes.clone(),
        );
        registry.register(
            "wsdash_flapping_users",
            "Users who got 3 or more new connections within 5 minutes",
            self.flapping_users.clone(),
        );
        registry.register(
            "wsdash_records_appeared",
            "Records that appeared between two reads of the store",
            self.records_appeared.clone(),
        );
        registry.register(
            "wsdash_records_vanished",
            "Records that vanished between two reads of the store",
            self.records_vanished.clone(),
        );
        registry.register(
            "wsdash_scan_errors",
            "Reads of the connection store that failed, by kind",
            self.scan_errors.clone(),
        );
        registry.register(
            "wsdash_access_log_errors",
            "Reads of the access log that failed, by kind",
            self.access_log_errors.clone(),
        );
        registry.register(
            "wsdash_store_up",
            "1 when the last read of the connection store succeeded",
            self.store_up.clone(),
        );
        registry.register(
            "wsdash_orphans",
            "Connections the gateway holds (live by GetConnection) that the store does not know, from the access log",
            self.orphans.clone(),
        );
        registry.register_with_unit(
            "wsdash_scan_duration",
            "How long the last read of the connection store took",
            Unit::Seconds,
            self.scan_duration.clone(),
        );
        registry.register_with_unit(
            "wsdash_last_sweep_timestamp",
            "When the last probe sweep finished (Unix time)",
            Unit::Seconds,
            self.last_sweep.clone(),
        );
        registry.register(
            "wsdash_build_info",
            "The wsdash build serving these metrics",
            self.build_info.clone(),
        );
        self.build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
    }
}
