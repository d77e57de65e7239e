//! Prometheus metrics: reconciles, errors by reason, provider requests by provider,
//! operation and status with latency, and assignments by readiness.

use std::collections::HashMap;
use std::sync::Mutex;
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
    readiness: Mutex<HashMap<String, bool>>,
}

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
            "RoleAssignments known to this replica by readiness",
            assignments.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            requests,
            latency,
            assignments,
            readiness: Mutex::default(),
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

    /// Records whether `object` is Ready; `None` forgets it (deleted).
    pub fn set_ready(&self, object: &str, ready: Option<bool>) {
        let mut map = self.readiness.lock().unwrap_or_else(|e| e.into_inner());
        match ready {
            Some(r) => {
                map.insert(object.to_owned(), r);
            }
            None => {
                map.remove(object);
            }
        }
        let ready_count = map.values().filter(|r| **r).count();
        let total = map.len();
        drop(map);
        let gauge = |label, n: usize| {
            self.assignments
                .get_or_create(&ReadyLabels { ready: label })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        };
        gauge("true", ready_count);
        gauge("false", total - ready_count);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
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
    fn readiness_gauge_counts_objects_once() {
        let m = Metrics::default();
        m.set_ready("a/x", Some(false));
        m.set_ready("a/x", Some(true));
        m.set_ready("a/y", Some(false));
        let text = m.encode();
        assert!(
            text.contains("rolesync_assignments{ready=\"true\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("rolesync_assignments{ready=\"false\"} 1"),
            "{text}"
        );
        m.set_ready("a/y", None);
        assert!(
            m.encode()
                .contains("rolesync_assignments{ready=\"false\"} 0")
        );
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
