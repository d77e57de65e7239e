//! `cargo bench --bench converge`: how fast rolesync converges thousands of
//! RoleAssignments, and what it costs the provider, Kubernetes and memory.
//! See the README's "Performance" section for what each scenario measures.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use testbed::scenarios::{self, HARNESS_REQUESTS_PER_MINUTE, Kube, Measurement, Options};

#[derive(Debug, Parser)]
#[command(about = "rolesync's scale benchmark")]
struct Args {
    /// Gcore RoleAssignments of the cold, steady and churn scenarios (0 skips them).
    #[arg(long, default_value_t = 10_000)]
    gcore: usize,
    /// How many of them churn gives a new role.
    #[arg(long, default_value_t = 1_000)]
    churn: usize,
    /// Harness RoleAssignments of the limited scenario (0 skips it).
    #[arg(long, default_value_t = 2_000)]
    harness: usize,
    /// Delay every simulator adds to each response.
    #[arg(long, default_value = "10ms", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// Secrets of 4 KiB that no provider config names, present throughout.
    #[arg(long, default_value_t = 1_000)]
    unrelated_secrets: usize,
    /// The Kubernetes API: the sandbox's in-memory one, or a real kube-apiserver (cold and
    /// steady only; needs Go to build it once).
    #[arg(long, value_enum, default_value = "memory")]
    kube: Kube,
    /// The longest any scenario may take.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    deadline: Duration,
    /// `cargo bench` passes this to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

fn row(m: &Measurement) -> String {
    format!(
        "{:<8} {:>6} {:>8.2} {:>6.1} {:>6.1} {:>9} {:>8} {:>8} {:>7.1} {:>9} {:>6} {:>5} {:>6}",
        m.scenario,
        m.n,
        m.seconds,
        m.cpu.operator,
        m.cpu.sandbox,
        m.provider_requests,
        m.provider_writes,
        m.kube_writes,
        m.peak_rss_mib,
        opt(m.limit_seconds, 1),
        opt(m.ratio, 3),
        m.rate_limited,
        m.remote_left
            .map_or_else(|| "-".to_owned(), |v| v.to_string()),
    )
}

const HEADER: &str = "scenario      n  seconds op_cpu sb_cpu  prov_req prov_wr  kube_wr rss_mib limit_sec  ratio   429   left";

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let opts = Options {
        bin: std::env::var_os("BENCH_BIN").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_rolesync")),
            PathBuf::from,
        ),
        gcore: args.gcore,
        churn: args.churn,
        harness: args.harness,
        latency: args.latency,
        deadline: args.deadline,
        unrelated_secrets: args.unrelated_secrets,
        kube: args.kube,
    };
    eprintln!(
        "converge: {} Gcore (latency {:?}, no limit), {} Harness at its published {HARNESS_REQUESTS_PER_MINUTE} requests/min (unscaled clock), {} cores",
        opts.gcore,
        opts.latency,
        opts.harness,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let mut json_lines = Vec::new();
    let result = scenarios::run(&opts, |m| {
        if json_lines.is_empty() {
            println!("{HEADER}");
        }
        println!("{}", row(m));
        json_lines.push(m.json().to_string());
    })
    .await;
    for line in &json_lines {
        println!("{line}");
    }
    if let Err(e) = result {
        eprintln!("converge failed: {e}");
        std::process::exit(1);
    }
}
