//! `rolesync sandbox`: the in-memory Kubernetes API, a simulator per provider, rolesync's
//! CRDs, a ClusterProviderConfig and Secret per simulator, the controller and the
//! examples, all on one machine with no cluster and no cloud account.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, ObjectMeta, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::{ClusterProviderConfig, RoleAssignment};
use crate::cmd::dir_lock::{DirLock, LockError};
use crate::cmd::run::shutdown_signal;
use crate::controller::{self, SecretPolicy, Settings};
use crate::sandbox::kube::{ApiServer, ServerConfig};
use crate::sandbox::sim::RequestLog;
use crate::sandbox::sim::gcore::{GcoreFixtures, GcoreSim, GcoreSimConfig};
use crate::sandbox::sim::harness::{HarnessFixtures, HarnessSim, HarnessSimConfig};
use crate::sandbox::sim::hyperstack::{HyperstackSim, HyperstackSimConfig};
use crate::sandbox::sim::zenml::{ZenmlSim, ZenmlSimConfig};
use crate::telemetry::{self, LogFormat};

/// rolesync's own namespace in the sandbox, where provider Secrets live.
pub const SYSTEM_NAMESPACE: &str = "rolesync-system";

/// The example RoleAssignments, built into the binary so the sandbox runs from anywhere.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "gcore-client-admin.yaml",
        include_str!("../../examples/gcore-client-admin.yaml"),
    ),
    (
        "gcore-project-observer.yaml",
        include_str!("../../examples/gcore-project-observer.yaml"),
    ),
    (
        "harness-account-viewer.yaml",
        include_str!("../../examples/harness-account-viewer.yaml"),
    ),
    (
        "harness-org-sre-admin.yaml",
        include_str!("../../examples/harness-org-sre-admin.yaml"),
    ),
    (
        "harness-project-pipeline-executor.yaml",
        include_str!("../../examples/harness-project-pipeline-executor.yaml"),
    ),
    (
        "zenml-org-viewer.yaml",
        include_str!("../../examples/zenml-org-viewer.yaml"),
    ),
    (
        "zenml-project-admin.yaml",
        include_str!("../../examples/zenml-project-admin.yaml"),
    ),
    (
        "zenml-workspace-team-manager.yaml",
        include_str!("../../examples/zenml-workspace-team-manager.yaml"),
    ),
    (
        "hyperstack-member-admin-by-id.yaml",
        include_str!("../../examples/hyperstack-member-admin-by-id.yaml"),
    ),
    (
        "hyperstack-member-developer.yaml",
        include_str!("../../examples/hyperstack-member-developer.yaml"),
    ),
];

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Where the kubeconfig and sandbox.json are written.
    #[arg(long, default_value = ".rolesync-sandbox")]
    pub dir: PathBuf,
    /// Port of the Kubernetes API on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Start only the API and the simulators (e.g. to run `rolesync run` yourself).
    #[arg(long)]
    pub no_controller: bool,
    /// Don't apply the examples.
    #[arg(long)]
    pub no_examples: bool,
    #[command(flatten)]
    pub simulators: SimOptions,
    /// Report what reached the sandbox as one JSON line on stdout (rolesync's Kubernetes
    /// writes, each simulator's requests and assignments) for every line read from stdin,
    /// and stop when stdin closes. For benchmarks.
    #[arg(long)]
    pub stats: bool,
}

/// How the simulators behave, for benchmarks against a realistic (slower, limited) provider.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SimOptions {
    /// Delay every simulator adds to each response, e.g. 10ms.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub latency: Option<Duration>,
    /// The Harness simulator refuses (429) requests past this many in any minute, and
    /// harness-sandbox keeps rolesync's default Harness rate limit instead of none.
    #[arg(long)]
    pub harness_requests_per_minute: Option<u32>,
    /// Users added to the Gcore (ids from 100000) and Harness (bench_user_1, ...)
    /// simulators, so that thousands of distinct grants exist.
    #[arg(long, default_value_t = 0)]
    pub extra_users: u32,
}

/// The first id of the users `--extra-users` adds to the Gcore simulator.
pub const GCORE_EXTRA_USER_BASE: u64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot use directory {dir}: {source}")]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot listen on 127.0.0.1:{port}: {source} (is another sandbox running? try --port 0)"
    )]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    DirInUse(#[from] LockError),
    #[error("cannot start the {0} simulator: {1}")]
    Simulator(&'static str, #[source] std::io::Error),
    #[error("the sandbox's kubeconfig is unusable: {0}")]
    Kubeconfig(String),
    #[error("setting up the sandbox cluster: {0}")]
    Kube(#[from] kube::Error),
    #[error("waiting for CRD {0} to be established: {1}")]
    Crd(String, String),
    #[error("example {file}: {reason}")]
    Example { file: &'static str, reason: String },
    #[error(transparent)]
    Controller(#[from] controller::RunError),
}

/// A client that reaches the cluster a kubeconfig (as the sandbox writes it) points at.
pub async fn client_for(kubeconfig_yaml: &str) -> Result<kube::Client, SandboxError> {
    let bad = |e: kube::config::KubeconfigError| SandboxError::Kubeconfig(e.to_string());
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig_yaml).map_err(bad)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(bad)?;
    Ok(kube::Client::try_from(config)?)
}

/// Creates every rolesync CRD and waits until the API serves them.
pub async fn install_crds(client: &kube::Client) -> Result<(), SandboxError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::api::crds() {
        let name = crd.name_any();
        match crds.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        tokio::time::timeout(
            Duration::from_secs(10),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| SandboxError::Crd(name.clone(), "timed out".into()))?
        .map_err(|e| SandboxError::Crd(name.clone(), e.to_string()))?;
    }
    Ok(())
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), SandboxError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Stores `api_key` in Secret `name` (key `apiKey`) in rolesync's namespace and creates
/// ClusterProviderConfig `name` with `provider_block` (e.g. `{"gcore": {"endpoint": ...}}`).
pub async fn connect_provider(
    client: &kube::Client,
    name: &str,
    api_key: &str,
    provider_block: serde_json::Value,
) -> Result<(), SandboxError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(SYSTEM_NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        string_data: Some([("apiKey".to_owned(), api_key.to_owned())].into()),
        ..Secret::default()
    };
    secrets.create(&PostParams::default(), &secret).await?;
    let mut spec = json!({
        "credentials": {"secretRef": {"name": name, "namespace": SYSTEM_NAMESPACE, "key": "apiKey"}}
    });
    if let (Some(spec), Some(block)) = (spec.as_object_mut(), provider_block.as_object()) {
        spec.extend(block.clone());
    }
    let config: ClusterProviderConfig = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1",
        "kind": "ClusterProviderConfig",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .map_err(|e| SandboxError::Kube(kube::Error::SerdeError(e)))?;
    Api::<ClusterProviderConfig>::all(client.clone())
        .create(&PostParams::default(), &config)
        .await?;
    Ok(())
}

/// Creates the objects of one example file (a YAML stream).
async fn apply_example(
    client: &kube::Client,
    file: &'static str,
    yaml: &str,
) -> Result<usize, SandboxError> {
    let bad = |reason: String| SandboxError::Example { file, reason };
    let mut created = 0;
    for doc in yaml.split("\n---").filter(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    }) {
        let obj: DynamicObject = serde_saphyr::from_str(doc).map_err(|e| bad(e.to_string()))?;
        let types = obj
            .types
            .clone()
            .ok_or_else(|| bad("no apiVersion/kind".into()))?;
        let gvk = GroupVersionKind::try_from(&types).map_err(|e| bad(e.to_string()))?;
        let plural = format!("{}s", gvk.kind.to_ascii_lowercase());
        let ar = ApiResource::from_gvk_with_plural(&gvk, &plural);
        let api: Api<DynamicObject> = match obj.namespace() {
            Some(ns) => Api::namespaced_with(client.clone(), &ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => created += 1,
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(created)
}

/// A rate limit that never holds the sandbox back; Hyperstack keeps its published default.
fn unlimited() -> serde_json::Value {
    json!({"requestsPerMinute": 60000, "burst": 1000})
}

fn key_for(provider: &str) -> String {
    format!("sandbox-{provider}-{}", uuid::Uuid::new_v4().simple())
}

/// Every provider simulator of the sandbox, each with the API key it accepts.
pub struct Simulators {
    pub gcore: (GcoreSim, String),
    pub harness: (HarnessSim, String),
    pub zenml: (ZenmlSim, String),
    pub hyperstack: (HyperstackSim, String),
    options: SimOptions,
}

impl Simulators {
    pub async fn start() -> Result<Self, SandboxError> {
        Self::start_with(SimOptions::default()).await
    }

    pub async fn start_with(options: SimOptions) -> Result<Self, SandboxError> {
        let gcore_key = key_for("gcore");
        let mut gcore_fixtures = GcoreFixtures::default();
        gcore_fixtures
            .user_ids
            .extend((1..=u64::from(options.extra_users)).map(|i| GCORE_EXTRA_USER_BASE + i));
        let gcore = GcoreSim::start(GcoreSimConfig {
            api_key: gcore_key.clone(),
            fixtures: gcore_fixtures,
            ..GcoreSimConfig::default()
        })
        .await
        .map_err(|e| SandboxError::Simulator("gcore", e))?;
        let harness_key = key_for("harness");
        let mut harness_fixtures = HarnessFixtures::default();
        harness_fixtures
            .users
            .extend((1..=options.extra_users).map(|i| format!("bench_user_{i}")));
        let harness = HarnessSim::start(HarnessSimConfig {
            api_key: harness_key.clone(),
            fixtures: harness_fixtures,
            ..HarnessSimConfig::default()
        })
        .await
        .map_err(|e| SandboxError::Simulator("harness", e))?;
        // ZenML organization API keys carry this prefix.
        let zenml_key = format!("ZENPROKEY_{}", key_for("zenml"));
        let zenml = ZenmlSim::start(ZenmlSimConfig {
            api_key: zenml_key.clone(),
            ..ZenmlSimConfig::default()
        })
        .await
        .map_err(|e| SandboxError::Simulator("zenml", e))?;
        let hyperstack_key = key_for("hyperstack");
        let hyperstack = HyperstackSim::start(HyperstackSimConfig {
            api_key: hyperstack_key.clone(),
            ..HyperstackSimConfig::default()
        })
        .await
        .map_err(|e| SandboxError::Simulator("hyperstack", e))?;
        if let Some(latency) = options.latency {
            for faults in [
                gcore.faults(),
                harness.faults(),
                zenml.faults(),
                hyperstack.faults(),
            ] {
                faults.set_latency(latency);
            }
        }
        harness
            .faults()
            .set_rate_limit_per(options.harness_requests_per_minute, Duration::from_secs(60));
        Ok(Self {
            gcore: (gcore, gcore_key),
            harness: (harness, harness_key),
            zenml: (zenml, zenml_key),
            hyperstack: (hyperstack, hyperstack_key),
            options,
        })
    }

    /// Creates a Secret and a `<provider>-sandbox` ClusterProviderConfig per simulator.
    pub async fn connect(&self, client: &kube::Client) -> Result<(), SandboxError> {
        let (gcore, key) = &self.gcore;
        let block = json!({"gcore": {"endpoint": gcore.endpoint()}, "rateLimit": unlimited()});
        connect_provider(client, "gcore-sandbox", key, block).await?;
        let (harness, key) = &self.harness;
        let mut block =
            json!({"harness": {"endpoint": harness.endpoint(), "accountId": harness.account_id()}});
        if self.options.harness_requests_per_minute.is_none() {
            block["rateLimit"] = unlimited();
        }
        connect_provider(client, "harness-sandbox", key, block).await?;
        let (zenml, key) = &self.zenml;
        let block = json!({"zenml": {"endpoint": zenml.endpoint()}, "rateLimit": unlimited()});
        connect_provider(client, "zenml-sandbox", key, block).await?;
        // Hyperstack blocks the whole IP for a minute past its limit: keep its default.
        let (hyperstack, key) = &self.hyperstack;
        let block = json!({"hyperstack": {"endpoint": hyperstack.endpoint()}});
        connect_provider(client, "hyperstack-sandbox", key, block).await
    }

    /// The `providers` object of `sandbox.json`: endpoints, keys and fixtures.
    pub fn describe(&self) -> serde_json::Value {
        let (gcore, gcore_key) = &self.gcore;
        let g = gcore.fixtures();
        let (harness, harness_key) = &self.harness;
        let (hyperstack, hyperstack_key) = &self.hyperstack;
        let h = hyperstack.fixtures();
        let (zenml, zenml_key) = &self.zenml;
        let z = zenml.fixtures();
        let ids = |ids: &[uuid::Uuid]| ids.iter().map(ToString::to_string).collect::<Vec<_>>();
        let roles: Vec<uuid::Uuid> = z.roles.iter().map(|(id, _)| *id).collect();
        let projects: Vec<_> = z
            .projects
            .iter()
            .map(|(w, p)| json!({"workspaceId": w.to_string(), "projectId": p.to_string()}))
            .collect();
        json!({
            "gcore": {
                "endpoint": gcore.endpoint(),
                "apiKey": gcore_key,
                "fixtures": {"clientId": g.client_id, "userIds": g.user_ids, "projectIds": g.project_ids},
            },
            "harness": {
                "endpoint": harness.endpoint(),
                "apiKey": harness_key,
                "accountId": harness.account_id(),
                "fixtures": harness.fixtures(),
            },
            "zenml": {
                "endpoint": zenml.endpoint(),
                "apiKey": zenml_key,
                "fixtures": {
                    "organizationId": z.organization_id.to_string(),
                    "roleIds": ids(&roles),
                    "userIds": ids(&z.user_ids),
                    "teamIds": ids(&z.team_ids),
                    "workspaceIds": ids(&z.workspace_ids),
                    "projects": projects,
                },
            },
            "hyperstack": {
                "endpoint": hyperstack.endpoint(),
                "apiKey": hyperstack_key,
                "fixtures": {"userIds": h.user_ids, "roles": h.roles},
            },
        })
    }

    /// Requests each simulator answered (all, writes, 429s) and the assignments it holds.
    pub fn stats(&self) -> serde_json::Value {
        let counts = |log: Vec<RequestLog>, assignments: usize| {
            json!({
                "requests": log.len(),
                "writes": log.iter().filter(|r| r.method != "GET").count(),
                "rateLimited": log.iter().filter(|r| r.status == 429).count(),
                "assignments": assignments,
            })
        };
        json!({
            "gcore": counts(self.gcore.0.requests(), self.gcore.0.assignments().len()),
            "harness": counts(self.harness.0.requests(), self.harness.0.assignments().len()),
            "zenml": counts(self.zenml.0.requests(), self.zenml.0.assignments().len()),
            "hyperstack": counts(self.hyperstack.0.requests(), self.hyperstack.0.assigned().len()),
        })
    }

    pub async fn shutdown(self) {
        self.gcore.0.shutdown().await;
        self.harness.0.shutdown().await;
        self.zenml.0.shutdown().await;
        self.hyperstack.0.shutdown().await;
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<PathBuf, SandboxError> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(|source| SandboxError::Dir {
        dir: dir.to_owned(),
        source,
    })?;
    Ok(path)
}

/// Prints one row per RoleAssignment once every example has settled (or the deadline passed).
async fn print_table(client: &kube::Client, wait: Duration) -> Result<(), SandboxError> {
    let api: Api<RoleAssignment> = Api::all(client.clone());
    let deadline = tokio::time::Instant::now() + wait;
    let settled = |ra: &RoleAssignment| {
        ra.status.as_ref().is_some_and(|s| {
            s.observed_generation == ra.metadata.generation
                && s.conditions.iter().any(|c| c.type_ == "Synced")
        })
    };
    let mut items = api.list(&Default::default()).await?.items;
    while !items.iter().all(settled) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        items = api.list(&Default::default()).await?.items;
    }
    let rows: Vec<[String; 7]> = items
        .iter()
        .map(|ra| {
            let status = ra.status.clone().unwrap_or_default();
            let cond = |t: &str| {
                status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == t)
                    .map(|c| format!("{:?}", c.status))
                    .unwrap_or_else(|| "-".into())
            };
            [
                format!("{}/{}", ra.namespace().unwrap_or_default(), ra.name_any()),
                status.provider.clone().unwrap_or_else(|| "-".into()),
                status.role.clone().unwrap_or_else(|| "-".into()),
                status.principal.clone().unwrap_or_else(|| "-".into()),
                status.external_id.clone().unwrap_or_else(|| "-".into()),
                cond("Ready"),
                cond("Synced"),
            ]
        })
        .collect();
    let header = [
        "NAMESPACE/NAME",
        "PROVIDER",
        "ROLE",
        "PRINCIPAL",
        "EXTERNAL-ID",
        "READY",
        "SYNCED",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..7)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    Ok(())
}

/// Prints a stats line for every line on stdin; returns when stdin closes.
async fn report_stats(api: &ApiServer, sims: &Simulators) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    // Blocking stdin reads get a thread of their own; it ends with stdin (or the sandbox).
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if line.is_err() || tx.send(()).is_err() {
                return;
            }
        }
    });
    while rx.recv().await.is_some() {
        let stats = json!({
            "kubernetes": {"writesByRolesync": api.writes_by(ROLESYNC_USER_AGENT)},
            "providers": sims.stats(),
        });
        println!("{stats}");
    }
}

/// What the operator's Kubernetes client sends as User-Agent (followed by its version).
const ROLESYNC_USER_AGENT: &str = "rolesync/";

/// One line of start-up progress, on stderr so stdout keeps only the table and instructions.
fn progress(step: &str) {
    eprintln!("rolesync sandbox: {step}…");
}

pub async fn run(args: SandboxArgs) -> Result<(), SandboxError> {
    telemetry::init(LogFormat::Text);
    let dir_err = |source| SandboxError::Dir {
        dir: args.dir.clone(),
        source,
    };
    std::fs::create_dir_all(&args.dir).map_err(dir_err)?;
    let dir = std::fs::canonicalize(&args.dir).map_err(dir_err)?;
    let _lock = DirLock::acquire(&dir)?;

    progress("starting the Kubernetes API");
    let api = ApiServer::start(ServerConfig {
        addr: ([127, 0, 0, 1], args.port).into(),
        ..ServerConfig::default()
    })
    .await
    .map_err(|source| SandboxError::Listen {
        port: args.port,
        source,
    })?;
    let kubeconfig = write(&dir, "kubeconfig", &api.kubeconfig_yaml())?;
    let client = client_for(&api.kubeconfig_yaml()).await?;

    ensure_namespace(&client, SYSTEM_NAMESPACE).await?;
    progress(&format!(
        "Kubernetes API serving at {}; installing rolesync's CRDs",
        api.url()
    ));
    install_crds(&client).await?;

    progress("starting the Gcore, Harness, ZenML Pro and Hyperstack simulators");
    let sims = Simulators::start_with(args.simulators.clone()).await?;
    sims.connect(&client).await?;
    let info = json!({
        "kubernetes": {"server": api.url(), "kubeconfig": kubeconfig.display().to_string()},
        "providers": sims.describe(),
    });
    write(&dir, "sandbox.json", &format!("{info:#}\n"))?;

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let operator = (!args.no_controller).then(|| {
        let client = client.clone();
        tokio::spawn(controller::run(
            client,
            Settings {
                namespace: None,
                concurrency: 50,
                poll_interval: Duration::from_secs(60),
                metrics_addr: ([127, 0, 0, 1], 0).into(),
                leader: None,
                secret_policy: SecretPolicy {
                    operator_namespace: SYSTEM_NAMESPACE.to_owned(),
                    extra_namespaces: Vec::new(),
                },
                instance: "sandbox".to_owned(),
            },
            async move {
                let _ = stop_rx.await;
            },
        ))
    });

    if operator.is_some() {
        progress("controller running");
    }
    if !args.no_examples {
        progress(&format!(
            "applying {} examples and waiting for them to settle",
            EXAMPLES.len()
        ));
        ensure_namespace(&client, "default").await?;
        for (file, yaml) in EXAMPLES {
            apply_example(&client, file, yaml).await?;
        }
        if operator.is_some() {
            print_table(&client, Duration::from_secs(20)).await?;
        }
    }
    let kc = kubeconfig.display();
    println!(
        "sandbox ready: Kubernetes API at {} (kubeconfig {kc}, details in {}/sandbox.json)",
        api.url(),
        dir.display()
    );
    println!();
    println!("Try:");
    println!("  kubectl --kubeconfig {kc} get ra -A -o wide");
    println!("  kubectl --kubeconfig {kc} apply -f examples/gcore-project-observer.yaml");
    println!("  kubectl --kubeconfig {kc} delete ra -n default alice-observer-project-123");
    println!();
    println!("Press Ctrl-C to stop.");

    if args.stats {
        tokio::select! {
            () = report_stats(&api, &sims) => {},
            () = shutdown_signal() => {},
        }
    } else {
        shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    if let Some(op) = operator {
        let _ = op.await;
    }
    sims.shutdown().await;
    api.shutdown().await;
    Ok(())
}
