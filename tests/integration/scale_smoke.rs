//! The scale benchmark's scenarios at a small size, for correctness only (never timing):
//! every assignment becomes Ready, writes are counted right, a resync changes nothing,
//! deletion leaves nothing behind and the rate-limited provider never answers 429.

use std::path::PathBuf;
use std::time::Duration;

use testbed::scenarios::{self, FRESH, Kube, Measurement, Options};

fn find<'a>(results: &'a [Measurement], scenario: &str) -> &'a Measurement {
    results
        .iter()
        .find(|m| m.scenario == scenario)
        .unwrap_or_else(|| panic!("no {scenario} result in {results:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_assignments_converge_resync_for_free_and_clean_up() {
    let opts = Options {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_rolesync")),
        gcore: 300,
        churn: 30,
        harness: 60,
        latency: Duration::from_millis(10),
        deadline: Duration::from_secs(120),
        unrelated_secrets: 20,
        kube: Kube::Memory,
        operator_bin: None,
    };
    let results = scenarios::run(&opts, |m| println!("{}", m.json()))
        .await
        .unwrap_or_else(|e| panic!("benchmark scenarios failed: {e}"));

    let cold = find(&results, "cold");
    assert_eq!(cold.remote_left, Some(300), "one remote assignment each");
    assert_eq!(
        cold.provider_writes, 300,
        "exactly one create each: {cold:?}"
    );
    // Finalizer, status and a Created event each, plus the provider config's status once.
    // The configs' first inventory comes a tenth of the poll interval after the start.
    assert!(cold.kube_writes <= 3 * 300 + 1, "{cold:?}");
    assert!(
        cold.cpu.operator > 0.0 && cold.cpu.sandbox > 0.0,
        "the CPU split is measured: {cold:?}"
    );

    let steady = find(&results, "steady");
    assert_eq!(steady.kube_writes, 0, "a resync writes nothing: {steady:?}");
    assert_eq!(steady.provider_writes, 0, "{steady:?}");
    assert!(
        steady.provider_requests <= steady.request_budget.unwrap_or(0),
        "one paged list per scope: {steady:?}"
    );

    let fresh = find(&results, "fresh");
    assert_eq!(
        fresh.provider_writes, FRESH as u64,
        "one create each: {fresh:?}"
    );
    assert_eq!(fresh.remote_left, Some(300 + FRESH as u64), "{fresh:?}");
    assert!(
        fresh.p50_seconds.is_some_and(|p50| p50 > 0.0) && fresh.p99_seconds >= fresh.p50_seconds,
        "{fresh:?}"
    );

    let churn = find(&results, "churn");
    assert_eq!(
        churn.remote_left,
        Some(0),
        "deletion leaves nothing: {churn:?}"
    );
    assert_eq!(
        churn.provider_writes,
        30 + 300 + FRESH as u64,
        "one update per changed role and one delete each: {churn:?}"
    );

    let limited = find(&results, "limited");
    assert_eq!(limited.remote_left, Some(60), "{limited:?}");
    assert_eq!(limited.rate_limited, 0, "never a 429: {limited:?}");

    let memory = find(&results, "memory");
    assert!(
        memory
            .idle_rss_mib
            .is_some_and(|idle| idle > 0.0 && idle <= memory.peak_rss_mib),
        "{memory:?}"
    );
    assert!(memory.bytes_per_assignment.is_some(), "{memory:?}");
}
