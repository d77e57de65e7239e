//! The scale scenarios of `cargo bench --bench converge`, shared with the smoke test.
//!
//! Everything runs as users run it: `rolesync sandbox --no-controller --stats` (the
//! in-memory Kubernetes API and the simulators) and `rolesync run` as child processes.
//! The sandbox reports rolesync's Kubernetes writes and each simulator's requests on
//! request; the operator's peak RSS comes from `/proc/<pid>/status`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Notify;

use crate::cluster::{client_for, ensure_namespace, role_assignments};

/// Harness's published limit, which the limited scenario runs against unscaled.
pub const HARNESS_REQUESTS_PER_MINUTE: u32 = provider_sims::harness::REQUESTS_PER_MINUTE;
/// Gcore's largest page: a full list of N assignments takes ceil(N / 1000) requests.
const GCORE_PAGE: usize = 1000;
const NAMESPACE: &str = "bench";
/// Where the Secrets no provider config names live.
const UNRELATED_NAMESPACE: &str = "bench-unrelated";
/// How many Kubernetes requests the benchmark itself keeps in flight while applying.
const APPLY_CONCURRENCY: usize = 64;

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, BenchError>;

fn fail(message: impl Into<String>) -> BenchError {
    message.into().into()
}

#[derive(Clone, Debug)]
pub struct Options {
    /// The `rolesync` binary (release for the benchmark).
    pub bin: PathBuf,
    /// Gcore RoleAssignments of the cold, steady and churn scenarios (0 skips them).
    pub gcore: usize,
    /// How many of them churn changes the role of.
    pub churn: usize,
    /// Harness RoleAssignments of the limited scenario (0 skips it).
    pub harness: usize,
    pub latency: Duration,
    /// How long any one wait may take before the run fails.
    pub deadline: Duration,
    /// Secrets of 4 KiB that no provider config names, present in the cluster throughout:
    /// what the operator keeps of them is memory spent on nothing.
    pub unrelated_secrets: usize,
    /// Which Kubernetes API the scenarios run on.
    pub kube: Kube,
    /// The binary that runs the operator, when not `bin`: the image build, which has no
    /// sandbox in it (`bin` still runs the sandbox).
    pub operator_bin: Option<PathBuf>,
}

/// New RoleAssignments the fresh scenario applies one by one during a resync wave.
pub const FRESH: usize = 20;

/// The Kubernetes API of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Kube {
    /// The sandbox's in-memory API.
    #[default]
    Memory,
    /// A real kube-apiserver of the pinned release (scripts/kube-apiserver.sh): rolesync's
    /// writes are counted from its audit log.
    Real,
}

/// What the audit log of a real server records: writes only, without bodies.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verbs: [create, update, patch, delete, deletecollection]\n- level: None\n";

/// Writes the operator made, by its User-Agent, in a real server's audit log.
/// Only requests the server received from `since` on (RFC 3339 with microseconds, as the
/// log writes them) count: a killed operator's last requests complete after it is gone and
/// belong to the window they were sent in, not to the next one.
fn audited_writes(log: &Path, since: Option<&str>) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        // One entry per stage; count each request once, when it completed.
        .filter(|e| e["stage"] == "ResponseComplete")
        .filter(|e| {
            since.is_none_or(|since| {
                e["requestReceivedTimestamp"]
                    .as_str()
                    .is_some_and(|at| at >= since)
            })
        })
        .filter(|e| {
            e["userAgent"]
                .as_str()
                .is_some_and(|a| a.starts_with("rolesync/"))
        })
        .count() as u64
}

/// One scenario's numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measurement {
    pub scenario: &'static str,
    pub n: usize,
    pub seconds: f64,
    pub provider_requests: u64,
    pub provider_writes: u64,
    pub kube_writes: u64,
    pub peak_rss_mib: f64,
    /// n / limit, where a rate limit applies.
    pub limit_seconds: Option<f64>,
    pub ratio: Option<f64>,
    /// 429s the simulator answered.
    pub rate_limited: u64,
    /// Remote assignments left after the scenario (churn deletes everything).
    pub remote_left: Option<u64>,
    /// What the target for provider requests is (steady: scopes x pages).
    pub request_budget: Option<u64>,
    /// CPU each process spent in the scenario: where the time went.
    pub cpu: CpuSeconds,
    /// fresh: seconds from apply to Ready, median and 99th percentile.
    pub p50_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    /// memory: the operator's resident memory with its caches synced and nothing to do.
    pub idle_rss_mib: Option<f64>,
    /// memory: (peak - idle) / n.
    pub bytes_per_assignment: Option<f64>,
}

/// CPU seconds (user + system) of the operator, the sandbox (in-memory API and
/// simulators) and the benchmark's own client.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuSeconds {
    pub operator: f64,
    pub sandbox: f64,
    pub benchmark: f64,
}

impl CpuSeconds {
    fn sample(operator: Option<&Operator>, sandbox: &Sandbox) -> Self {
        Self {
            operator: operator.map_or(0.0, |o| cpu_seconds(o.child.id())),
            sandbox: cpu_seconds(sandbox.child.id()),
            benchmark: cpu_seconds(Some(std::process::id())),
        }
    }

    fn since(self, earlier: Self) -> Self {
        Self {
            operator: self.operator - earlier.operator,
            sandbox: self.sandbox - earlier.sandbox,
            benchmark: self.benchmark - earlier.benchmark,
        }
    }
}

/// utime + stime from `/proc/<pid>/stat`, in the kernel's fixed USER_HZ of 100 ticks a second.
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let Some(stat) = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
    else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces;
    // utime and stime are fields 14 and 15 of the whole line.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

impl Measurement {
    pub fn json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "n": self.n,
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "provider_requests": self.provider_requests,
            "provider_writes": self.provider_writes,
            "kube_writes": self.kube_writes,
            "peak_rss_mib": (self.peak_rss_mib * 10.0).round() / 10.0,
            "limit_seconds": self.limit_seconds,
            "ratio": self.ratio.map(|r| (r * 1000.0).round() / 1000.0),
            "rate_limited": self.rate_limited,
            "remote_left": self.remote_left,
            "request_budget": self.request_budget,
            "p50_seconds": self.p50_seconds.map(|v| (v * 1000.0).round() / 1000.0),
            "p99_seconds": self.p99_seconds.map(|v| (v * 1000.0).round() / 1000.0),
            "idle_rss_mib": self.idle_rss_mib.map(|v| (v * 10.0).round() / 10.0),
            "bytes_per_assignment": self.bytes_per_assignment.map(f64::round),
            "cpu_seconds": {
                "operator": (self.cpu.operator * 100.0).round() / 100.0,
                "sandbox": (self.cpu.sandbox * 100.0).round() / 100.0,
                "benchmark": (self.cpu.benchmark * 100.0).round() / 100.0,
            },
        })
    }
}

/// What the sandbox reports through `--stats`.
#[derive(Clone, Copy, Debug, Default)]
struct Stats {
    kube_writes: u64,
    requests: u64,
    writes: u64,
    rate_limited: u64,
    assignments: u64,
}

/// One scenario's start: the sandbox's counters, the clock and each process's CPU.
struct Window {
    provider: &'static str,
    before: Stats,
    started: Instant,
    /// When it opened, as a real server's audit log writes times.
    opened_at: String,
    cpu: CpuSeconds,
}

impl Window {
    /// `operator` is `None` when the scenario starts one itself.
    async fn open(
        sandbox: &mut Sandbox,
        provider: &'static str,
        operator: Option<&Operator>,
    ) -> Result<Self> {
        Ok(Self {
            provider,
            before: sandbox.stats(provider).await?,
            started: Instant::now(),
            opened_at: humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            cpu: CpuSeconds::sample(operator, sandbox),
        })
    }

    async fn close(
        self,
        scenario: &'static str,
        n: usize,
        sandbox: &mut Sandbox,
        operator: &Operator,
    ) -> Result<Measurement> {
        let seconds = self.started.elapsed().as_secs_f64();
        let cpu = CpuSeconds::sample(Some(operator), sandbox).since(self.cpu);
        let after = sandbox.stats(self.provider).await?;
        let before = self.before;
        Ok(Measurement {
            scenario,
            n,
            seconds,
            provider_requests: after.requests - before.requests,
            provider_writes: after.writes - before.writes,
            kube_writes: match &sandbox.audit {
                Some(log) => audited_writes(log, Some(&self.opened_at)),
                None => after.kube_writes - before.kube_writes,
            },
            peak_rss_mib: operator.peak_rss_mib(),
            rate_limited: after.rate_limited - before.rate_limited,
            remote_left: Some(after.assignments),
            cpu,
            ..Measurement::default()
        })
    }
}

/// `rolesync sandbox --no-controller --stats` as a child process.
struct Sandbox {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    info: Value,
    kubeconfig: PathBuf,
    /// A real server's audit log, where rolesync's writes are counted.
    audit: Option<PathBuf>,
}

impl Sandbox {
    /// `cluster`: the kubeconfig of a cluster to run on instead of the in-memory API.
    async fn start(opts: &Options, dir: &Path, cluster: Option<&Path>) -> Result<Self> {
        let latency = format!("{}ms", opts.latency.as_millis());
        // Enough users that every assignment is a distinct (user, scope) pair.
        let extra_users = ((opts.gcore + FRESH).max(opts.harness) / 6 + 1).to_string();
        let limit = HARNESS_REQUESTS_PER_MINUTE.to_string();
        let mut child = Command::new(&opts.bin)
            .args(["sandbox", "--no-controller", "--no-examples", "--stats"])
            .arg("--dir")
            .arg(dir)
            .args(["--latency", &latency, "--extra-users", &extra_users])
            .args(["--harness-requests-per-minute", &limit])
            .args(
                cluster
                    .map(|c| ["--kubeconfig".as_ref(), c.as_os_str()])
                    .into_iter()
                    .flatten(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| fail("no sandbox stdin"))?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| fail("no sandbox stdout"))?;
        let mut stdout = BufReader::new(out).lines();
        loop {
            match stdout.next_line().await? {
                Some(line) if line.starts_with("sandbox ready") => break,
                Some(_) => {}
                None => return Err(fail("the sandbox exited before it was ready")),
            }
        }
        let info: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("sandbox.json"))?)?;
        let kubeconfig = PathBuf::from(
            info["kubernetes"]["kubeconfig"]
                .as_str()
                .ok_or_else(|| fail("sandbox.json names no kubeconfig"))?,
        );
        Ok(Self {
            child,
            stdin,
            stdout,
            info,
            kubeconfig,
            audit: None,
        })
    }

    async fn stats(&mut self, provider: &str) -> Result<Stats> {
        self.stdin.write_all(b"stats\n").await?;
        self.stdin.flush().await?;
        let line = loop {
            match self.stdout.next_line().await? {
                Some(line) if line.starts_with('{') => break line,
                Some(_) => {}
                None => return Err(fail("the sandbox exited")),
            }
        };
        let v: Value = serde_json::from_str(&line)?;
        let p = &v["providers"][provider];
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let kube_writes = match &self.audit {
            Some(log) => audited_writes(log, None),
            None => n(&v["kubernetes"]["writesByRolesync"]),
        };
        Ok(Stats {
            kube_writes,
            requests: n(&p["requests"]),
            writes: n(&p["writes"]),
            rate_limited: n(&p["rateLimited"]),
            assignments: n(&p["assignments"]),
        })
    }

    async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// `rolesync run` as a child process, logging JSON to a file.
struct Operator {
    child: Child,
    metrics: String,
}

impl Operator {
    async fn start(opts: &Options, kubeconfig: &Path, log: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log_file = std::fs::File::create(log)?;
        let child = Command::new(opts.operator_bin.as_ref().unwrap_or(&opts.bin))
            .args(["run", "--leader-election", "false", "--log-format", "json"])
            .args(["--metrics-addr", &addr])
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", "rolesync-system")
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()?;
        let op = Self {
            child,
            metrics: format!("http://{addr}"),
        };
        let http = reqwest::Client::new();
        wait_for("the operator to serve /healthz", opts.deadline, || async {
            http.get(format!("{}/healthz", op.metrics))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await?;
        Ok(op)
    }

    /// `rolesync_reconciles_total{result=...}`.
    async fn reconciles(&self, result: &str) -> u64 {
        let Ok(r) = reqwest::get(format!("{}/metrics", self.metrics)).await else {
            return 0;
        };
        let text = r.text().await.unwrap_or_default();
        let prefix = format!("rolesync_reconciles_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }

    /// VmHWM: the most resident memory the process has had.
    fn peak_rss_mib(&self) -> f64 {
        self.status_mib("VmHWM:")
    }

    /// VmRSS: the resident memory now.
    fn rss_mib(&self) -> f64 {
        self.status_mib("VmRSS:")
    }

    fn status_mib(&self, field: &str) -> f64 {
        let Some(pid) = self.child.id() else {
            return 0.0;
        };
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(field))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            })
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// Waits until the operator's caches are synced (`/readyz`).
    async fn wait_ready(&self, deadline: Duration) -> Result<()> {
        let http = reqwest::Client::new();
        wait_for("the operator to be ready", deadline, || async {
            http.get(format!("{}/readyz", self.metrics))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The `q` quantile of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(0.0)
}

async fn wait_for<F, Fut>(what: &str, deadline: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    while !check().await {
        if Instant::now() > until {
            return Err(fail(format!("timed out waiting for {what}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// What the benchmark's watch last saw of one RoleAssignment.
#[derive(Clone, Copy, Debug)]
struct Seen {
    generation: i64,
    /// Ready=True for the current generation.
    ready: bool,
}

/// Every RoleAssignment of the benchmark's namespace, kept current by a watch.
#[derive(Clone)]
struct Tracker {
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    changed: Arc<Notify>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

fn is_ready(ra: &DynamicObject) -> bool {
    crate::cluster::is_ready(&ra.data, ra.metadata.generation)
}

impl Tracker {
    fn start(api: Api<DynamicObject>) -> Self {
        let seen = Arc::new(Mutex::new(HashMap::new()));
        let changed = Arc::new(Notify::new());
        let (s, c) = (seen.clone(), changed.clone());
        let task = tokio::spawn(async move {
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Ok(Some(event)) = events.try_next().await {
                let mut map = s.lock().unwrap_or_else(|e| e.into_inner());
                let mut put = |ra: &DynamicObject| {
                    let name = ra.metadata.name.clone().unwrap_or_default();
                    let generation = ra.metadata.generation.unwrap_or(0);
                    map.insert(
                        name,
                        Seen {
                            generation,
                            ready: is_ready(ra),
                        },
                    );
                };
                match event {
                    watcher::Event::Apply(ra) | watcher::Event::InitApply(ra) => put(&ra),
                    watcher::Event::Delete(ra) => {
                        map.remove(&ra.metadata.name.clone().unwrap_or_default());
                    }
                    watcher::Event::Init | watcher::Event::InitDone => {}
                }
                drop(map);
                c.notify_waiters();
            }
        });
        Self {
            seen,
            changed,
            task: Arc::new(task),
        }
    }

    async fn wait(
        &self,
        what: &str,
        deadline: Duration,
        done: impl Fn(&HashMap<String, Seen>) -> bool,
    ) -> Result<()> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let notified = self.changed.notified();
            if done(&self.seen.lock().unwrap_or_else(|e| e.into_inner())) {
                return Ok(());
            }
            // Also look again now and then: a notification may fall between check and wait.
            let tick = tokio::time::sleep(Duration::from_millis(200));
            tokio::select! {
                () = notified => {},
                () = tick => {},
                () = tokio::time::sleep_until(until) => {
                    let ready = self.seen.lock().unwrap_or_else(|e| e.into_inner()).values().filter(|s| s.ready).count();
                    return Err(fail(format!("timed out waiting for {what} ({ready} ready)")));
                }
            }
        }
    }

    fn stop(&self) {
        self.task.abort();
    }
}

fn gcore_spec(fixtures: &Value, i: usize) -> Result<Value> {
    let users = fixtures["userIds"]
        .as_array()
        .ok_or_else(|| fail("no Gcore users"))?;
    let projects = fixtures["projectIds"]
        .as_array()
        .ok_or_else(|| fail("no Gcore projects"))?;
    // Scope 0 is the client itself, then each project.
    let scopes = projects.len() + 1;
    let user = users
        .get(i / scopes)
        .ok_or_else(|| fail("too few Gcore users for this many assignments"))?;
    let mut spec = json!({
        "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "gcore-sandbox"},
        "gcore": {"userId": user, "role": "Observer", "clientId": fixtures["clientId"]},
    });
    if let Some(project) = (i % scopes).checked_sub(1) {
        spec["gcore"]["projectId"] = projects[project].clone();
    }
    Ok(spec)
}

fn harness_spec(fixtures: &Value, i: usize) -> Result<Value> {
    let users = fixtures["users"]
        .as_array()
        .ok_or_else(|| fail("no Harness users"))?;
    let orgs = fixtures["orgs"]
        .as_array()
        .ok_or_else(|| fail("no Harness orgs"))?;
    let projects = fixtures["projects"]
        .as_array()
        .ok_or_else(|| fail("no Harness projects"))?;
    let scopes = 1 + orgs.len() + projects.len();
    let user = users
        .get(i / scopes)
        .ok_or_else(|| fail("too few Harness users for this many assignments"))?;
    let mut block = json!({
        "resourceGroup": "_all_resources_including_child_scopes",
        "principal": {"type": "USER", "identifier": user},
    });
    match i % scopes {
        0 => block["role"] = json!("_account_viewer"),
        s if s <= orgs.len() => {
            block["org"] = orgs[s - 1].clone();
            block["role"] = json!("_organization_viewer");
        }
        s => {
            let p = &projects[s - 1 - orgs.len()];
            block["org"] = p["org"].clone();
            block["project"] = p["project"].clone();
            block["role"] = json!("_project_viewer");
        }
    }
    Ok(json!({
        "providerConfigRef": {"kind": "ClusterProviderConfig", "name": "harness-sandbox"},
        "harness": block,
    }))
}

async fn apply(api: &Api<DynamicObject>, specs: Vec<(String, Value)>) -> Result<()> {
    futures::stream::iter(specs)
        .map(|(name, spec)| async move {
            let ra: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "rolesync.dev/v1alpha1",
                "kind": "RoleAssignment",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": spec,
            }))?;
            api.create(&PostParams::default(), &ra).await?;
            Ok::<_, BenchError>(())
        })
        .buffer_unordered(APPLY_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Creates `n` Secrets of 4 KiB in a namespace of their own.
async fn create_unrelated_secrets(client: &kube::Client, n: usize) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    ensure_namespace(client, UNRELATED_NAMESPACE).await?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), UNRELATED_NAMESPACE);
    let payload = "x".repeat(4096);
    futures::stream::iter(0..n)
        .map(|i| {
            let (secrets, payload) = (secrets.clone(), payload.clone());
            async move {
                let secret: Secret = serde_json::from_value(json!({
                    "metadata": {"name": format!("unrelated-{i}")},
                    "stringData": {"payload": payload},
                }))?;
                secrets.create(&PostParams::default(), &secret).await?;
                Ok::<_, BenchError>(())
            }
        })
        .buffer_unordered(APPLY_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// The whole run: cold, steady and churn on Gcore, then limited on Harness.
pub async fn run(opts: &Options, mut report: impl FnMut(&Measurement)) -> Result<Vec<Measurement>> {
    let dir = tempfile::Builder::new().prefix("dbg-bench").tempdir()?;
    let dir = dir.keep();
    let dir = DbgDir(dir);
    let (real, audit) = match opts.kube {
        Kube::Memory => (None, None),
        Kube::Real => {
            let policy = dir.path().join("audit-policy.yaml");
            std::fs::write(&policy, AUDIT_POLICY)?;
            let audit = dir.path().join("audit.log");
            let flags = [
                format!("--audit-policy-file={}", policy.display()),
                format!("--audit-log-path={}", audit.display()),
            ];
            let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
            let kube = crate::RealKube::start(&flags).await?;
            (Some(kube), Some(audit))
        }
    };
    let cluster = real.as_ref().map(|k| k.kubeconfig.clone());
    let mut sandbox = Sandbox::start(opts, dir.path(), cluster.as_deref()).await?;
    sandbox.audit = audit;
    let result = scenarios(opts, &mut sandbox, dir.path(), &mut report).await;
    sandbox.stop().await;
    if let Some(kube) = real {
        kube.stop().await;
    }
    result
}

async fn scenarios(
    opts: &Options,
    sandbox: &mut Sandbox,
    dir: &Path,
    report: &mut impl FnMut(&Measurement),
) -> Result<Vec<Measurement>> {
    let kubeconfig = std::fs::read_to_string(&sandbox.kubeconfig)?;
    let client = client_for(&kubeconfig).await?;
    ensure_namespace(&client, NAMESPACE).await?;
    create_unrelated_secrets(&client, opts.unrelated_secrets).await?;
    let api = role_assignments(&client, Some(NAMESPACE));
    let tracker = Tracker::start(api.clone());
    let mut out = Vec::new();
    let mut push = |m: Measurement, out: &mut Vec<Measurement>| {
        report(&m);
        out.push(m);
    };

    let mut operator =
        Operator::start(opts, &sandbox.kubeconfig, &dir.join("operator-1.log")).await?;
    operator.wait_ready(opts.deadline).await?;
    let idle = operator.rss_mib();
    if opts.gcore > 0 {
        let n = opts.gcore;
        let fixtures = sandbox.info["providers"]["gcore"]["fixtures"].clone();
        let names: Vec<String> = (0..n).map(|i| format!("gcore-{i}")).collect();

        // cold: apply everything, wait until all are Ready.
        let window = Window::open(sandbox, "gcore", Some(&operator)).await?;
        let specs = names
            .iter()
            .enumerate()
            .map(|(i, name)| Ok((name.clone(), gcore_spec(&fixtures, i)?)))
            .collect::<Result<Vec<_>>>()?;
        apply(&api, specs).await?;
        tracker
            .wait("all Gcore assignments Ready", opts.deadline, |seen| {
                seen.len() == n && seen.values().all(|s| s.ready)
            })
            .await?;
        // At 100,000 the run is the growth scenario, named apart so it is never read as
        // the 10,000 row.
        let cold = if n >= 100_000 { "cold100k" } else { "cold" };
        push(window.close(cold, n, sandbox, &operator).await?, &mut out);

        // steady: a restarted operator resyncs every unchanged assignment once.
        operator.stop().await;
        let window = Window::open(sandbox, "gcore", None).await?;
        operator = Operator::start(opts, &sandbox.kubeconfig, &dir.join("operator-2.log")).await?;
        wait_for("a full resync", opts.deadline, || async {
            operator.reconciles("success").await >= n as u64
        })
        .await?;
        let steady = window.close("steady", n, sandbox, &operator).await?;
        push(
            Measurement {
                request_budget: Some(n.div_ceil(GCORE_PAGE) as u64),
                ..steady
            },
            &mut out,
        );

        // fresh: restarted again, the operator resyncs all n while new ones arrive one by
        // one; each must be Ready soon, not after the wave.
        operator.stop().await;
        let window = Window::open(sandbox, "gcore", None).await?;
        operator = Operator::start(opts, &sandbox.kubeconfig, &dir.join("operator-3.log")).await?;
        wait_for("the resync wave to start", opts.deadline, || async {
            operator.reconciles("success").await > 0
        })
        .await?;
        let mut latencies = Vec::with_capacity(FRESH);
        for i in 0..FRESH {
            let name = format!("fresh-{i}");
            let spec = gcore_spec(&fixtures, n + i)?;
            let applied = Instant::now();
            apply(&api, vec![(name.clone(), spec)]).await?;
            tracker
                .wait(&format!("{name} Ready"), opts.deadline, |seen| {
                    seen.get(&name).is_some_and(|s| s.ready)
                })
                .await?;
            latencies.push(applied.elapsed().as_secs_f64());
        }
        let resynced = operator.reconciles("success").await;
        latencies.sort_by(f64::total_cmp);
        let fresh = window.close("fresh", FRESH, sandbox, &operator).await?;
        if resynced >= n as u64 {
            eprintln!(
                "converge: the resync wave ended before the last fresh assignment was Ready: the fresh row measured less than a wave"
            );
        }
        push(
            Measurement {
                p50_seconds: Some(percentile(&latencies, 0.50)),
                p99_seconds: Some(percentile(&latencies, 0.99)),
                ..fresh
            },
            &mut out,
        );

        // churn: a new role for some, then delete them all (on the in-memory API only: the
        // real server's rows are cold and steady).
        let churn = if opts.kube == Kube::Memory {
            opts.churn.min(n)
        } else {
            0
        };
        if churn > 0 {
            let window = Window::open(sandbox, "gcore", Some(&operator)).await?;
            let patched: Vec<(String, i64)> = futures::stream::iter(names.iter().take(churn))
                .map(|name| {
                    let api = api.clone();
                    async move {
                        let patch = json!({"spec": {"gcore": {"role": "User"}}});
                        let ra = api
                            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await?;
                        Ok::<_, BenchError>((name.clone(), ra.metadata.generation.unwrap_or(0)))
                    }
                })
                .buffer_unordered(APPLY_CONCURRENCY)
                .try_collect()
                .await?;
            tracker
                .wait("changed roles Ready", opts.deadline, |seen| {
                    patched.iter().all(|(name, generation)| {
                        seen.get(name)
                            .is_some_and(|s| s.generation >= *generation && s.ready)
                    })
                })
                .await?;
            let fresh_names: Vec<String> = (0..FRESH).map(|i| format!("fresh-{i}")).collect();
            futures::stream::iter(names.iter().chain(&fresh_names))
                .map(|name| {
                    let api = api.clone();
                    async move {
                        api.delete(name, &DeleteParams::default()).await?;
                        Ok::<_, BenchError>(())
                    }
                })
                .buffer_unordered(APPLY_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
            tracker
                .wait("every Gcore assignment deleted", opts.deadline, |seen| {
                    seen.is_empty()
                })
                .await?;
            push(
                window.close("churn", n, sandbox, &operator).await?,
                &mut out,
            );
        }
    }

    if opts.harness > 0 && opts.kube == Kube::Memory {
        let n = opts.harness;
        let fixtures = sandbox.info["providers"]["harness"]["fixtures"].clone();
        let window = Window::open(sandbox, "harness", Some(&operator)).await?;
        let specs = (0..n)
            .map(|i| Ok((format!("harness-{i}"), harness_spec(&fixtures, i)?)))
            .collect::<Result<Vec<_>>>()?;
        apply(&api, specs).await?;
        tracker
            .wait("all Harness assignments Ready", opts.deadline, |seen| {
                seen.len() == n && seen.values().all(|s| s.ready)
            })
            .await?;
        let limited = window.close("limited", n, sandbox, &operator).await?;
        let limit_seconds = n as f64 * 60.0 / f64::from(HARNESS_REQUESTS_PER_MINUTE);
        push(
            Measurement {
                limit_seconds: Some(limit_seconds),
                ratio: Some(limited.seconds / limit_seconds),
                ..limited
            },
            &mut out,
        );
    }
    // Every operator process of the run: the cold one and the restarted ones.
    let peak = out
        .iter()
        .map(|m| m.peak_rss_mib)
        .fold(operator.peak_rss_mib(), f64::max);
    let n = opts.gcore.max(opts.harness);
    push(
        Measurement {
            scenario: "memory",
            n,
            peak_rss_mib: peak,
            idle_rss_mib: Some(idle),
            bytes_per_assignment: (n > 0).then(|| (peak - idle) * 1024.0 * 1024.0 / n as f64),
            ..Measurement::default()
        },
        &mut out,
    );
    operator.stop().await;
    tracker.stop();
    Ok(out)
}
struct DbgDir(PathBuf);
impl DbgDir {
    fn path(&self) -> &Path {
        &self.0
    }
}
