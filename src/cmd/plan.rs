//! `rolesync plan`: what applying RoleAssignment manifests would change at the providers,
//! before it changes. Reads manifests, asks the cluster and the providers, writes nothing.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use rolesync::controller::SecretPolicy;
use rolesync::controller::plan::{Action, PlanError, Planned, Planner, Preview, Prune};
use serde_json::{Value, json};

use super::run::operator_namespace;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// A manifest file, or a directory of them (*.yaml, *.yml, *.json, recursively).
    #[arg(short = 'f', long = "filename")]
    pub files: Vec<PathBuf>,
    /// A kustomization directory, rendered by `kubectl kustomize DIR`.
    #[arg(short = 'k', long = "kustomize")]
    pub kustomize: Option<PathBuf>,
    /// The kubeconfig context to use (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
    /// Also show RoleAssignments in the cluster that the manifests no longer contain, as
    /// revocations: those matching -l, in the namespaces given with --prune-namespace.
    #[arg(long)]
    pub prune: bool,
    /// With --prune: a label selector (`key=value,key!=value,key`).
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
    /// With --prune: a namespace to prune in (repeatable).
    #[arg(long = "prune-namespace")]
    pub prune_namespaces: Vec<String>,
    /// `table` (colour on a terminal) or `json` (one object per RoleAssignment and line).
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,
    /// How old a provider's cached list may be, as the operator's --poll-interval.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
    /// Further namespaces a ClusterProviderConfig may read Secrets from, as the operator's.
    #[arg(long = "allow-secret-namespace")]
    pub allow_secret_namespaces: Vec<String>,
    /// rolesync's namespace, where ClusterProviderConfigs' Secrets live by default.
    #[arg(long, default_value_t = operator_namespace())]
    pub operator_namespace: String,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanCommandError {
    #[error("no manifests: give -f PATH or -k DIR")]
    NoManifests,
    #[error(
        "--prune needs -l SELECTOR or --prune-namespace, so that it prunes only what the manifests own"
    )]
    UnboundedPrune,
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not YAML: {reason}")]
    Yaml { path: String, reason: String },
    #[error("kubectl kustomize {dir}: {reason}")]
    Kustomize { dir: PathBuf, reason: String },
    #[error("loading the kubeconfig: {0}")]
    Config(String),
    #[error("cannot create a Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Exit codes as `terraform plan -detailed-exitcode`: 0 no remote change, 2 changes, 1
/// errors (any RoleAssignment that is invalid, would fail, conflicts or is not permitted).
pub async fn run(args: PlanArgs) -> Result<ExitCode, PlanCommandError> {
    if args.files.is_empty() && args.kustomize.is_none() {
        return Err(PlanCommandError::NoManifests);
    }
    if args.prune && args.selector.is_none() && args.prune_namespaces.is_empty() {
        return Err(PlanCommandError::UnboundedPrune);
    }
    let mut manifests = Vec::new();
    for path in &args.files {
        for file in files(path)? {
            let text = std::fs::read_to_string(&file).map_err(|source| PlanCommandError::Read {
                path: file.clone(),
                source,
            })?;
            manifests.extend(role_assignments(&file.display().to_string(), &text)?);
        }
    }
    if let Some(dir) = &args.kustomize {
        let text = kustomize(dir)?;
        manifests.extend(role_assignments(&dir.display().to_string(), &text)?);
    }

    let options = kube::config::KubeConfigOptions {
        context: args.context.clone(),
        ..Default::default()
    };
    let config = match kube::Config::from_kubeconfig(&options).await {
        Ok(config) => config,
        // No kubeconfig: in a pod (a CI runner in the cluster) the service account serves.
        Err(_) if args.context.is_none() => {
            kube::Config::incluster().map_err(|e| PlanCommandError::Config(e.to_string()))?
        }
        Err(e) => return Err(PlanCommandError::Config(e.to_string())),
    };
    let default_namespace = config.default_namespace.clone();
    let client = kube::Client::try_from(config)?;
    let policy = SecretPolicy {
        operator_namespace: args.operator_namespace.clone(),
        extra_namespaces: args.allow_secret_namespaces.clone(),
    };
    let planner = Planner::connect(client, policy, args.poll_interval).await?;
    let prune = args.prune.then(|| Prune {
        selector: args.selector.clone(),
        namespaces: args.prune_namespaces.clone(),
    });
    let plan = planner
        .plan(manifests, &default_namespace, prune.as_ref())
        .await?;

    let out = match args.output {
        Output::Json => plan
            .iter()
            .map(|p| format!("{}\n", describe(p)))
            .collect::<String>(),
        Output::Table => table(&plan, std::io::stdout().is_terminal()),
    };
    // A closed pipe (`| head`) is no reason to fail the plan.
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(exit_code(&plan))
}

/// The files `path` names: itself, or the manifests under it in a stable order.
fn files(path: &Path) -> Result<Vec<PathBuf>, PlanCommandError> {
    let read = |source| PlanCommandError::Read {
        path: path.to_owned(),
        source,
    };
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(read)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            out.extend(files(&entry)?);
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Renders a kustomization as kubectl does (rolesync does not embed kustomize).
fn kustomize(dir: &Path) -> Result<String, PlanCommandError> {
    let failed = |reason: String| PlanCommandError::Kustomize {
        dir: dir.to_owned(),
        reason,
    };
    let output = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| failed(format!("cannot run kubectl: {e}")))?;
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| failed(e.to_string()))
}

/// The RoleAssignments of a YAML stream (a `List` counts by its items); other kinds are
/// not rolesync's to plan.
fn role_assignments(origin: &str, text: &str) -> Result<Vec<Value>, PlanCommandError> {
    let mut out = Vec::new();
    for doc in text.split("\n---").filter(|d| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    }) {
        let doc = doc.trim_start_matches("---");
        let value: Value = serde_saphyr::from_str(doc).map_err(|e| PlanCommandError::Yaml {
            path: origin.to_owned(),
            reason: e.to_string(),
        })?;
        let items = match value.get("items").and_then(Value::as_array) {
            Some(items) if value["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                items.clone()
            }
            _ => vec![value],
        };
        out.extend(items.into_iter().filter(|v| {
            v["kind"] == "RoleAssignment"
                && v["apiVersion"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("rolesync.dev/"))
        }));
    }
    Ok(out)
}

/// One RoleAssignment's plan as JSON: `action` is one of create, update, replace, adopt,
/// nothing, conflict, invalid, not-permitted, policy-forbids, paused, revoke, left-in-place
/// or error; `changes` lists an update's or replacement's fields, old -> new.
fn describe(p: &Planned) -> Value {
    let changes = |d: &[rolesync::providers::Difference]| {
        d.iter()
            .map(|d| json!({"field": d.field, "from": d.have, "to": d.want}))
            .collect::<Vec<_>>()
    };
    let (action, detail) = match &p.action {
        Action::Apply(preview) => match preview {
            Preview::Create => ("create", json!({})),
            Preview::Update(d) => ("update", json!({"changes": changes(d)})),
            Preview::Replace(d) => ("replace", json!({"changes": changes(d)})),
            Preview::Adopt(id) => ("adopt", json!({"externalID": id})),
            Preview::Nothing => ("nothing", json!({})),
            Preview::PolicyForbids(m) => ("policy-forbids", json!({"message": m})),
            Preview::Conflict { owner } => ("conflict", json!({"owner": owner})),
            Preview::NotPermitted(m) => ("not-permitted", json!({"message": m})),
            Preview::Paused => ("paused", json!({})),
            Preview::Revoke(id) => ("revoke", json!({"externalID": id})),
            Preview::Failed { reason, message } => {
                ("error", json!({"reason": reason, "message": message}))
            }
        },
        Action::Invalid(m) => ("invalid", json!({"message": m})),
        Action::Revoke(id) => ("revoke", json!({"externalID": id, "pruned": true})),
        Action::LeftInPlace(m) => ("left-in-place", json!({"message": m, "pruned": true})),
    };
    let mut out = json!({
        "namespace": p.namespace,
        "name": p.name,
        "provider": p.provider,
        "action": action,
    });
    if let (Some(out), Some(detail)) = (out.as_object_mut(), detail.as_object()) {
        out.extend(detail.clone());
    }
    out
}

/// Whether the plan changes something at a provider, or cannot be trusted.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Weight {
    Unchanged,
    Changes,
    Error,
}

fn weight(action: &Action) -> Weight {
    match action {
        Action::Invalid(_)
        | Action::Apply(
            Preview::Failed { .. } | Preview::Conflict { .. } | Preview::NotPermitted(_),
        ) => Weight::Error,
        Action::Revoke(_)
        | Action::Apply(
            Preview::Create | Preview::Update(_) | Preview::Replace(_) | Preview::Revoke(_),
        ) => Weight::Changes,
        _ => Weight::Unchanged,
    }
}

fn exit_code(plan: &[Planned]) -> ExitCode {
    match plan.iter().map(|p| weight(&p.action)).max() {
        Some(Weight::Error) => ExitCode::from(1),
        Some(Weight::Changes) => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    }
}

/// A readable table: one line per RoleAssignment, one more per changed field.
fn table(plan: &[Planned], colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let rows: Vec<(String, String, String, Weight, Vec<String>)> = plan
        .iter()
        .map(|p| {
            let d = describe(p);
            let action = d["action"].as_str().unwrap_or_default().to_owned();
            let detail = ["message", "owner", "externalID"]
                .iter()
                .find_map(|k| d[*k].as_str())
                .map(|s| match label(&action) {
                    "" => s.to_owned(),
                    label => format!("{label} {s}"),
                })
                .unwrap_or_default();
            let changes: Vec<String> = d["changes"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| {
                            format!(
                                "{}: {} -> {}",
                                c["field"].as_str().unwrap_or_default(),
                                c["from"].as_str().unwrap_or_default(),
                                c["to"].as_str().unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                format!("{}/{}", p.namespace, p.name),
                p.provider.unwrap_or("-").to_owned(),
                action,
                weight(&p.action),
                std::iter::once(detail).chain(changes).collect(),
            )
        })
        .collect();
    let name_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(14);
    let prov_w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(8);
    let act_w = rows.iter().map(|r| r.2.len()).max().unwrap_or(0).max(6);
    let mut out = format!(
        "{:name_w$}  {:prov_w$}  {:act_w$}  DETAIL\n",
        "ROLEASSIGNMENT", "PROVIDER", "ACTION"
    );
    for (name, provider, action, weight, details) in &rows {
        let code = match (weight, action.as_str()) {
            (Weight::Error, _) => "31",
            (Weight::Changes, "create") => "32",
            (Weight::Changes, "revoke") => "31",
            (Weight::Changes, _) => "33",
            _ => "2",
        };
        let shown = paint(code, &format!("{action:act_w$}"));
        let mut lines = details.iter().filter(|d| !d.is_empty());
        let first = lines.next().map(String::as_str).unwrap_or_default();
        let line = format!("{name:name_w$}  {provider:prov_w$}  {shown}  {first}");
        out.push_str(line.trim_end());
        out.push('\n');
        for more in lines {
            out.push_str(&format!(
                "{:w$}  {more}\n",
                "",
                w = name_w + prov_w + act_w + 4
            ));
        }
    }
    let count = |w| rows.iter().filter(|r| r.3 == w).count();
    out.push_str(&format!(
        "\n{} to change at the providers, {} unchanged, {} with errors\n",
        count(Weight::Changes),
        count(Weight::Unchanged),
        count(Weight::Error)
    ));
    out
}

/// What a table's detail names for an action.
fn label(action: &str) -> &'static str {
    match action {
        "conflict" => "owned by",
        "adopt" | "revoke" => "assignment",
        _ => "",
    }
}
