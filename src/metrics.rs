//! Prometheus metrics: reconciles, errors by reason, provider requests by provider,
//! operation and status with latency, and assignments by readiness.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::providers::http::RequestObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    provider: &'static str,
    operation: &'static str,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    provider: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConfigLabels {
    config: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RemoteLabels {
    config: String,
    managed: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadyLabels {
    ready: &'static str,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    errors: Family<ReasonLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    assignments: Family<ReadyLabels, Gauge>,
    revocations_held: Family<ConfigLabels, Counter>,
    drift: Family<ProviderLabels, Counter>,
    remote_assignments: Family<RemoteLabels, Gauge>,
    readiness: OnceLock<Readiness>,
}

/// Counts `(ready, not ready)` RoleAssignments when metrics are scraped: read from the
/// operator's cache then, instead of kept per object on every reconcile.
type Readiness = Box<dyn Fn() -> (usize, usize) + Send + Sync>;

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rolesync");
        let reconciles = Family::<ResultLabels, Counter>::default();
        let errors = Family::<ReasonLabels, Counter>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        let assignments = Family::<ReadyLabels, Gauge>::default();
        let revocations_held = Family::<ConfigLabels, Counter>::default();
        let drift = Family::<ProviderLabels, Counter>::default();
        let remote_assignments = Family::<RemoteLabels, Gauge>::default();
        registry.register(
            "reconciles",
            "RoleAssignment reconciles by result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciles by reason",
            errors.clone(),
        );
        registry.register(
            "provider_requests",
            "Requests to provider APIs by provider, operation and HTTP status or error",
            requests.clone(),
        );
        registry.register(
            "provider_request_duration_seconds",
            "Latency of provider API requests",
            latency.clone(),
        );
        registry.register(
            "assignments",
            "RoleAssignments in this replica's cache by whether their Ready condition is True",
            assignments.clone(),
        );
        registry.register(
            "revocations_held",
            "Revocations a provider config's revocationLimit held back, counted when each starts to wait",
            revocations_held.clone(),
        );
        registry.register(
            "drift",
            "Remote assignments found changed or deleted by someone other than rolesync, counted once per drift",
            drift.clone(),
        );
        registry.register(
            "remote_assignments",
            "Assignments a provider config's credentials can see at the provider, by whether a RoleAssignment accounts for them, as of the config's last inventory",
            remote_assignments.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            requests,
            latency,
            assignments,
            revocations_held,
            drift,
            remote_assignments,
            readiness: OnceLock::new(),
        }
    }
}

impl Metrics {
    /// `result` is `success`, `error`, `conflict`, `paused` or `deleted`.
    pub fn reconciled(&self, result: &'static str) {
        self.reconciles
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    pub fn reconcile_failed(&self, reason: &'static str) {
        self.errors.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// A revocation started waiting for config `config`'s revocation limit.
    pub fn revocation_held(&self, config: &str) {
        self.revocations_held
            .get_or_create(&ConfigLabels {
                config: config.to_owned(),
            })
            .inc();
    }

    /// A remote assignment of `provider` was found changed or deleted behind rolesync's back.
    pub fn drifted(&self, provider: &'static str) {
        self.drift.get_or_create(&ProviderLabels { provider }).inc();
    }

    /// What config `config`'s last inventory counted at the provider.
    pub fn remote_assignments(&self, config: &str, managed: u64, unmanaged: u64) {
        for (label, n) in [("true", managed), ("false", unmanaged)] {
            self.remote_assignments
                .get_or_create(&RemoteLabels {
                    config: config.to_owned(),
                    managed: label,
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Config `config` is gone: its inventory is no longer reported.
    pub fn forget_remote_assignments(&self, config: &str) {
        for managed in ["true", "false"] {
            self.remote_assignments.remove(&RemoteLabels {
                config: config.to_owned(),
                managed,
            });
        }
    }

    /// Where the `assignments` gauge comes from; set once the controller has its cache.
    pub fn count_readiness_with(&self, count: impl Fn() -> (usize, usize) + Send + Sync + 'static) {
        let _ = self.readiness.set(Box::new(count));
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        if let Some(count) = self.readiness.get() {
            let (ready, not_ready) = count();
            let gauge = |label, n: usize| {
                self.assignments
                    .get_or_create(&ReadyLabels { ready: label })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            };
            gauge("true", ready);
            gauge("false", not_ready);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl RequestObserver for Metrics {
    fn request_done(
        &self,
        provider: &'static str,
        operation: &'static str,
        outcome: &str,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                provider,
                operation,
                status: outcome.to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels {
                provider,
                operation,
            })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_gauge_is_counted_when_scraped() {
        let m = Metrics::default();
        assert!(
            !m.encode().contains("rolesync_assignments{"),
            "no count before a cache exists"
        );
        let counts = std::sync::Arc::new(std::sync::Mutex::new((1, 1)));
        let source = counts.clone();
        m.count_readiness_with(move || *source.lock().unwrap());
        let text = m.encode();
        assert!(
            text.contains("rolesync_assignments{ready=\"true\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("rolesync_assignments{ready=\"false\"} 1"),
            "{text}"
        );
        *counts.lock().unwrap() = (2, 0);
        let text = m.encode();
        assert!(
            text.contains("rolesync_assignments{ready=\"true\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("rolesync_assignments{ready=\"false\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn drift_is_counted_per_provider() {
        let m = Metrics::default();
        m.drifted("gcore");
        m.drifted("gcore");
        m.drifted("zenml");
        let text = m.encode();
        assert!(
            text.contains("rolesync_drift_total{provider=\"gcore\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("rolesync_drift_total{provider=\"zenml\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn held_revocations_are_counted_per_config() {
        let m = Metrics::default();
        m.revocation_held("ClusterProviderConfig/gcore");
        m.revocation_held("ClusterProviderConfig/gcore");
        let text = m.encode();
        assert!(
            text.contains(
                "rolesync_revocations_held_total{config=\"ClusterProviderConfig/gcore\"} 2"
            ),
            "{text}"
        );
    }

    #[test]
    fn remote_assignments_are_reported_per_config_until_it_goes() {
        let m = Metrics::default();
        m.remote_assignments("ClusterProviderConfig/gcore", 3, 2);
        let text = m.encode();
        for line in [
            "rolesync_remote_assignments{config=\"ClusterProviderConfig/gcore\",managed=\"true\"} 3",
            "rolesync_remote_assignments{config=\"ClusterProviderConfig/gcore\",managed=\"false\"} 2",
        ] {
            assert!(text.contains(line), "{text}");
        }
        m.forget_remote_assignments("ClusterProviderConfig/gcore");
        assert!(!m.encode().contains("rolesync_remote_assignments{"));
    }

    #[test]
    fn provider_requests_are_labelled() {
        let m = Metrics::default();
        m.request_done("gcore", "list", "200", Duration::from_millis(12));
        let text = m.encode();
        assert!(
            text.contains(
                "rolesync_provider_requests_total{provider=\"gcore\",operation=\"list\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("rolesync_provider_request_duration_seconds_bucket"));
    }
}
