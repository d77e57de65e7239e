//! `rolesync sandbox`: the in-memory Kubernetes API, a simulator per provider, rolesync's
//! CRDs, a ClusterProviderConfig and Secret per simulator, the controller and the
//! examples, all on one machine with no cluster and no cloud account.

use std::path::{Path, PathBuf};
use std::time::Duration;

use in_memory_kube::{ApiServer, ServerConfig};
use kube::api::{DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kube::{Api, ResourceExt};
use rolesync::api::RoleAssignment;
use rolesync::controller::{self, SecretPolicy, Settings};
use rolesync::telemetry::{self, LogFormat};
use serde_json::json;
use testbed::{SYSTEM_NAMESPACE, SimOptions, Simulators};

use super::dir_lock::{DirLock, LockError};
use super::run::shutdown_signal;

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
    #[arg(long, default_value_t = 0, conflicts_with = "kubeconfig")]
    pub port: u16,
    /// Use the cluster this kubeconfig points at (e.g. a real kube-apiserver) instead of
    /// starting the in-memory Kubernetes API; rolesync's CRDs, namespace, Secrets and
    /// provider configs are created there and left behind.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
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
    #[error(transparent)]
    Setup(#[from] testbed::Error),
    #[error("setting up the sandbox cluster: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("example {file}: {reason}")]
    Example { file: &'static str, reason: String },
    #[error(transparent)]
    Controller(#[from] controller::RunError),
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
    print!("{}", render_table(&role_assignment_table(client).await?));
    Ok(())
}

/// RoleAssignments of every namespace as the API server renders them for `kubectl get`
/// (a meta.k8s.io Table: the CRD's printer columns, evaluated server-side).
async fn role_assignment_table(client: &kube::Client) -> Result<serde_json::Value, SandboxError> {
    let request = axum::http::Request::get("/apis/rolesync.dev/v1alpha1/roleassignments")
        .header(
            axum::http::header::ACCEPT,
            "application/json;as=Table;v=v1;g=meta.k8s.io",
        )
        .body(Vec::new())
        .map_err(|e| SandboxError::Kube(kube::Error::HttpError(e)))?;
    Ok(client.request(request).await?)
}

/// A Table as `kubectl get -A` prints it: NAMESPACE, then the columns shown by default
/// (priority 0), upper-cased, aligned as kubectl's tab writer aligns them.
fn render_table(table: &serde_json::Value) -> String {
    let empty = Vec::new();
    let columns = table["columnDefinitions"].as_array().unwrap_or(&empty);
    let shown: Vec<usize> = (0..columns.len())
        .filter(|i| columns[*i]["priority"].as_i64().unwrap_or(0) == 0)
        .collect();
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut lines: Vec<Vec<String>> = vec![
        std::iter::once("NAMESPACE".to_owned())
            .chain(
                shown
                    .iter()
                    .map(|i| text(&columns[*i]["name"]).to_uppercase()),
            )
            .collect(),
    ];
    for row in table["rows"].as_array().unwrap_or(&empty) {
        lines.push(
            std::iter::once(text(&row["object"]["metadata"]["namespace"]))
                .chain(shown.iter().map(|i| text(&row["cells"][*i])))
                .collect(),
        );
    }
    // kubectl's tab writer: cells padded by 3 to at least 6, the last column unpadded.
    let widths: Vec<usize> = (0..=shown.len())
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(6)
        })
        .collect();
    let mut out = String::new();
    for line in &lines {
        let last = line.len() - 1;
        for (c, cell) in line.iter().enumerate() {
            if c == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}

/// Prints a stats line for every line on stdin; returns when stdin closes.
async fn report_stats(api: Option<&ApiServer>, sims: &Simulators) {
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
            // Another cluster keeps its own account (e.g. an audit log).
            "kubernetes": {"writesByRolesync": api.map(|api| api.writes_by(ROLESYNC_USER_AGENT))},
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

    let (api, kubeconfig, server, client) = match &args.kubeconfig {
        Some(path) => {
            let yaml =
                std::fs::read_to_string(path).map_err(|source| SandboxError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?;
            let config = testbed::config_for(&yaml).await?;
            let server = config.cluster_url.to_string();
            let client = kube::Client::try_from(config)?;
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            progress(&format!("using the Kubernetes API at {server}"));
            (None, path, server, client)
        }
        None => {
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
            let client = testbed::client_for(&api.kubeconfig_yaml()).await?;
            let server = api.url();
            (Some(api), kubeconfig, server, client)
        }
    };

    testbed::ensure_namespace(&client, SYSTEM_NAMESPACE).await?;
    progress(&format!(
        "Kubernetes API serving at {server}; installing rolesync's CRDs"
    ));
    testbed::install_crds(&client, rolesync::api::crds()).await?;

    progress("starting the Gcore, Harness, ZenML Pro and Hyperstack simulators");
    let sims = Simulators::start_with(args.simulators.clone()).await?;
    sims.connect(&client).await?;
    let info = json!({
        "kubernetes": {"server": server, "kubeconfig": kubeconfig.display().to_string()},
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
        testbed::ensure_namespace(&client, "default").await?;
        for (file, yaml) in EXAMPLES {
            apply_example(&client, file, yaml).await?;
        }
        if operator.is_some() {
            print_table(&client, Duration::from_secs(20)).await?;
        }
    }
    let kc = kubeconfig.display();
    println!(
        "sandbox ready: Kubernetes API at {server} (kubeconfig {kc}, details in {}/sandbox.json)",
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
            () = report_stats(api.as_ref(), &sims) => {},
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
    if let Some(api) = api {
        api.shutdown().await;
    }
    Ok(())
}
