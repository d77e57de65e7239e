//! rolesync against a real kube-apiserver of the pinned Kubernetes release (see
//! tests/kube-apiserver): its CRDs as the real server validates them, the Helm chart and the
//! kustomize manifests as the real helm and kubectl install them, and the operator as its own
//! process, authenticated as the chart's ServiceAccount under the real RBAC authorizer.
//!
//! Locally, without a Go toolchain to build the server, these skip with a message; under
//! `ROLESYNC_STRICT` (scripts/test.sh, CI) they fail instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use rolesync::api::RoleAssignment;
use rolesync::providers::{ConfigBlocks, Connection, ExternalId};
use secrecy::SecretString;
use serde_json::{Value, json};
use testbed::{RealKube, SimOptions};
use tokio::process::Command;

use crate::bad_input::invalid_specs;
use crate::fleet::{Fleet, Kind, expected, spec};
use crate::support::{Env, external_id, is_ready};

const SYSTEM: &str = "rolesync-system";
const RELEASE: &str = "rolesync";
const NS: &str = "default";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program` with `args`; panics with its output unless it succeeds.
async fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn kubectl(kube: &RealKube, args: &[&str]) -> String {
    let kubeconfig = kube.kubeconfig.display().to_string();
    let all: Vec<&str> = ["--kubeconfig", kubeconfig.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    run(Path::new("kubectl"), &all).await
}

async fn helm(kube: &RealKube, args: &[&str]) -> String {
    let kubeconfig = kube.kubeconfig.display().to_string();
    let all: Vec<&str> = ["--kubeconfig", kubeconfig.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    run(&testbed::real_kube::helm(), &all).await
}

/// How a server answered a write: the HTTP code, the Status reason and the fields its
/// causes name (what a user reads in `kubectl apply`'s error).
fn outcome(result: Result<DynamicObject, kube::Error>) -> (u16, String, BTreeSet<String>) {
    match result {
        Ok(_) => (200, String::new(), BTreeSet::new()),
        Err(kube::Error::Api(s)) => {
            let fields = s
                .details
                .as_ref()
                .map(|d| {
                    d.causes
                        .iter()
                        .map(|c| c.field.clone())
                        .collect::<BTreeSet<_>>()
                })
                .unwrap_or_default();
            (s.code, s.reason.clone(), fields)
        }
        Err(other) => panic!("not an API answer: {other:?}"),
    }
}

fn role_assignments(client: &kube::Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        NS,
        &ApiResource::erase::<RoleAssignment>(&()),
    )
}

fn object(name: &str, spec: &Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1",
        "kind": "RoleAssignment",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }))
    .expect("object")
}

#[tokio::test]
async fn crds_apply_server_side_and_bad_input_is_refused_as_by_the_in_memory_api() {
    let Some(kube) = RealKube::start_or_skip(&[]).await else {
        return;
    };
    kubectl(&kube, &["apply", "--server-side", "-f", "crds/"]).await;
    kubectl(
        &kube,
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    )
    .await;
    let real = role_assignments(&kube.client().await);
    let memory_env = Env::start().await;
    let memory = role_assignments(&memory_env.client);

    for (i, (spec, field)) in invalid_specs().into_iter().enumerate() {
        let obj = object(&format!("bad-{i}"), &spec);
        let by_real = outcome(real.create(&PostParams::default(), &obj).await);
        let by_memory = outcome(memory.create(&PostParams::default(), &obj).await);
        assert_eq!(by_real.0, 422, "the real server accepted {spec}");
        assert!(
            by_real.2.iter().any(|f| f.starts_with(field)),
            "{spec}: the real server names {:?}, not {field}",
            by_real.2
        );
        assert_eq!(by_memory, by_real, "{spec}: in-memory vs real");
    }

    // Who and where are immutable: a change is refused naming the same field by both.
    for kind in Kind::ALL {
        let name = format!("immutable-{}", kind.name());
        let created = spec(kind, 0, 0);
        let moved = spec(kind, 1, 0);
        let patch = Patch::Merge(json!({"spec": moved}));
        let mut outcomes = Vec::new();
        for api in [&real, &memory] {
            api.create(&PostParams::default(), &object(&name, &created))
                .await
                .unwrap_or_else(|e| panic!("{created} is valid: {e}"));
            outcomes.push(outcome(
                api.patch(&name, &PatchParams::default(), &patch).await,
            ));
        }
        assert_eq!(outcomes[0].0, 422, "{kind:?}: a move was accepted");
        assert_eq!(outcomes[1], outcomes[0], "{kind:?}: in-memory vs real");
    }
    kube.stop().await;
}

/// The container args of the chart's Deployment.
async fn deployment_args(client: &kube::Client) -> Vec<String> {
    let deployment = Api::<Deployment>::namespaced(client.clone(), SYSTEM)
        .get(RELEASE)
        .await
        .expect("the chart's Deployment");
    deployment
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|c| c.args.unwrap_or_default())
        .collect()
}

/// The description of RoleAssignment's CRD as the server holds it.
async fn served_crd_description(client: &kube::Client) -> String {
    let crd = Api::<CustomResourceDefinition>::all(client.clone())
        .get("roleassignments.rolesync.dev")
        .await
        .expect("CRD");
    crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| s.description.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn helm_installs_upgrades_and_uninstalls_the_chart_and_kustomize_applies() {
    let Some(kube) = RealKube::start_or_skip(&[]).await else {
        return;
    };
    let client = kube.client().await;
    let chart = "charts/rolesync";
    helm(
        &kube,
        &[
            "install",
            RELEASE,
            chart,
            "--namespace",
            SYSTEM,
            "--create-namespace",
        ],
    )
    .await;
    assert!(
        deployment_args(&client)
            .await
            .contains(&"--concurrency=50".to_owned()),
        "{:?}",
        deployment_args(&client).await
    );
    Api::<ServiceAccount>::namespaced(client.clone(), SYSTEM)
        .get(RELEASE)
        .await
        .expect("the chart's ServiceAccount");
    let installed = served_crd_description(&client).await;
    assert!(!installed.is_empty(), "the chart installed the CRDs");

    helm(
        &kube,
        &[
            "upgrade",
            RELEASE,
            chart,
            "--namespace",
            SYSTEM,
            "--set",
            "concurrency=10",
            "--set",
            "replicas=2",
        ],
    )
    .await;
    assert!(
        deployment_args(&client)
            .await
            .contains(&"--concurrency=10".to_owned())
    );
    let pdbs = kubectl(&kube, &["get", "pdb", "-n", SYSTEM, "-o", "name"]).await;
    assert!(
        pdbs.contains(RELEASE),
        "replicas > 1 adds a PodDisruptionBudget: {pdbs}"
    );

    // Helm installs CRDs once and never upgrades them: a changed CRD in the chart reaches
    // the server only by applying crds/ (README "Install").
    let changed = tempfile::tempdir().expect("temp dir");
    let copy = changed.path().join("rolesync");
    run(
        Path::new("cp"),
        &["-r", chart, copy.to_str().expect("utf-8 path")],
    )
    .await;
    let crd_file = copy.join("crds/rolesync.dev.yaml");
    let mut later = String::new();
    for doc in std::fs::read_to_string(&crd_file)
        .expect("chart CRDs")
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
    {
        let mut crd: Value = serde_saphyr::from_str(doc).expect("CRD YAML");
        if crd["metadata"]["name"] == "roleassignments.rolesync.dev" {
            crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] =
                json!("Changed by a later release.");
        }
        later.push_str("---\n");
        later.push_str(&serde_saphyr::to_string(&crd).expect("CRD to YAML"));
    }
    std::fs::write(&crd_file, later).expect("chart CRDs written");
    helm(
        &kube,
        &[
            "upgrade",
            RELEASE,
            copy.to_str().expect("utf-8 path"),
            "--namespace",
            SYSTEM,
        ],
    )
    .await;
    assert_eq!(
        served_crd_description(&client).await,
        installed,
        "helm upgrade left the CRD as it was"
    );
    // Helm owns the fields it installed: taking them over needs --force-conflicts.
    kubectl(
        &kube,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crd_file.to_str().expect("utf-8 path"),
        ],
    )
    .await;
    assert_eq!(
        served_crd_description(&client).await,
        "Changed by a later release."
    );

    helm(&kube, &["uninstall", RELEASE, "--namespace", SYSTEM]).await;
    let gone = Api::<Deployment>::namespaced(client.clone(), SYSTEM)
        .get_opt(RELEASE)
        .await
        .expect("get");
    assert!(gone.is_none(), "helm uninstall removed the Deployment");
    assert!(
        !served_crd_description(&client).await.is_empty(),
        "helm keeps CRDs (and so every RoleAssignment) on uninstall"
    );

    kubectl(&kube, &["apply", "-k", "deploy/"]).await;
    assert!(
        deployment_args(&client)
            .await
            .contains(&"--concurrency=50".to_owned())
    );
    kube.stop().await;
}

/// An Audit policy that records who did what (no bodies).
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n";

/// A kubeconfig for the chart's ServiceAccount with a TokenRequest token, as its pod gets.
async fn service_account_kubeconfig(kube: &RealKube, client: &kube::Client, dir: &Path) -> PathBuf {
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let token = Api::<ServiceAccount>::namespaced(client.clone(), SYSTEM)
        .create_token_request(RELEASE, &PostParams::default(), &request)
        .await
        .expect("TokenRequest")
        .status
        .expect("a token")
        .token;
    let ca = kube.dir().join("pki/ca.crt");
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "real", "cluster": {"server": kube.url, "certificate-authority": ca}}],
        "users": [{"name": "rolesync", "user": {"token": token}}],
        "contexts": [{"name": "rolesync", "context": {"cluster": "real", "user": "rolesync", "namespace": SYSTEM}}],
        "current-context": "rolesync",
    });
    let path = dir.join("service-account.kubeconfig");
    std::fs::write(&path, kubeconfig.to_string()).expect("kubeconfig written");
    path
}

/// A client of `kind`'s simulator with its key: someone else working at the provider.
fn someone_else(fleet: &Fleet, kind: Kind) -> Arc<dyn Connection> {
    let sims = &fleet.sims;
    let (block, key) = match kind {
        Kind::Gcore => (
            json!({"gcore": {"endpoint": sims.gcore.0.endpoint()}}),
            &sims.gcore.1,
        ),
        Kind::Harness => (
            json!({"harness": {"endpoint": sims.harness.0.endpoint(), "accountId": sims.harness.0.account_id()}}),
            &sims.harness.1,
        ),
        Kind::Zenml => (
            json!({"zenml": {"endpoint": sims.zenml.0.endpoint()}}),
            &sims.zenml.1,
        ),
        Kind::Hyperstack => (
            json!({"hyperstack": {"endpoint": sims.hyperstack.0.endpoint()}}),
            &sims.hyperstack.1,
        ),
    };
    let blocks: ConfigBlocks = serde_json::from_value(block).expect("config block");
    blocks
        .connect(SecretString::from(key.clone()), None, None)
        .expect("client")
}

fn desired(spec: &Value) -> rolesync::providers::Desired {
    let ra: RoleAssignment = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
        "metadata": {"name": "x", "namespace": NS}, "spec": spec,
    }))
    .expect("RoleAssignment");
    ra.spec.provider.target().expect("valid spec").desired
}

/// Polls `fleet.remote(kind)` until `want` holds (the simulators have no watch).
async fn wait_remote(fleet: &Fleet, kind: Kind, what: &str, want: impl Fn(&[String]) -> bool) {
    let deadline = tokio::time::Instant::now() + crate::support::WAIT;
    loop {
        let now = fleet.remote(kind);
        if want(&now) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind:?}: remote never became {what}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_operator_works_end_to_end_under_the_charts_rbac_with_a_real_lease() {
    let audit = tempfile::tempdir().expect("temp dir");
    let policy = audit.path().join("policy.yaml");
    std::fs::write(&policy, AUDIT_POLICY).expect("policy written");
    let log = audit.path().join("audit.log");
    let flags = [
        format!("--audit-policy-file={}", policy.display()),
        format!("--audit-log-path={}", log.display()),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let Some(kube) = RealKube::start_or_skip(&flags).await else {
        return;
    };
    helm(
        &kube,
        &[
            "install",
            RELEASE,
            "charts/rolesync",
            "--namespace",
            SYSTEM,
            "--create-namespace",
        ],
    )
    .await;
    let admin = kube.client().await;
    let sa_kubeconfig = service_account_kubeconfig(&kube, &admin, audit.path()).await;
    let fleet = Fleet::on(Env::on_real(kube).await, SimOptions::default()).await;
    let env = &fleet.env;
    let replica = |pod| {
        env.operator_with(
            &sa_kubeconfig,
            pod,
            &["--leader-election", "true", "--lease-duration", "3s"],
        )
    };
    let mut replicas = vec![
        ("rolesync-a", replica("rolesync-a")),
        ("rolesync-b", replica("rolesync-b")),
    ];
    let fast_resync = json!({"rolesync.dev/poll-interval": "2s"});

    for kind in Kind::ALL {
        let name = format!("grant-{}", kind.name());
        // Created, Ready with the provider's id.
        env.create_ra(NS, &name, spec(kind, 0, 0), fast_resync.clone())
            .await;
        let ra = env.wait_ra(NS, &name, "Ready", is_ready).await;
        assert!(external_id(&ra).is_some(), "{kind:?}: no external id");
        wait_remote(&fleet, kind, "granted", |r| {
            r.contains(&expected(kind, 0, 0))
        })
        .await;

        // A new role.
        let patch = Patch::Merge(json!({"spec": spec(kind, 0, 1)}));
        env.ras(NS)
            .patch(&name, &PatchParams::default(), &patch)
            .await
            .expect("patched");
        wait_remote(&fleet, kind, "re-roled", |r| {
            r.contains(&expected(kind, 0, 1)) && !r.contains(&expected(kind, 0, 0))
        })
        .await;
        let ra = env
            .wait_ra(NS, &name, "Ready for the new role", |ra| {
                is_ready(ra) && ra.metadata.generation == Some(2)
            })
            .await;

        // Someone removes it at the provider: the next resync grants it again.
        let id = ExternalId::new(external_id(&ra).expect("external id"));
        someone_else(&fleet, kind)
            .delete(&id, &desired(&spec(kind, 0, 1)))
            .await
            .expect("removed behind rolesync's back");
        wait_remote(&fleet, kind, "without the grant", |r| {
            !r.contains(&expected(kind, 0, 1))
        })
        .await;
        wait_remote(&fleet, kind, "repaired", |r| {
            r.contains(&expected(kind, 0, 1))
        })
        .await;

        // Deleted: the remote grant goes with it.
        env.ras(NS)
            .delete(&name, &DeleteParams::default())
            .await
            .expect("deleted");
        env.wait_gone(NS, &name).await;
        wait_remote(&fleet, kind, "revoked", |r| {
            !r.contains(&expected(kind, 0, 1))
        })
        .await;

        // Orphan: the remote grant stays.
        let orphan = format!("orphan-{}", kind.name());
        let mut orphan_spec = spec(kind, 1, 0);
        orphan_spec["deletionPolicy"] = json!("Orphan");
        env.create_ra(NS, &orphan, orphan_spec, json!({})).await;
        env.wait_ra(NS, &orphan, "Ready", is_ready).await;
        env.ras(NS)
            .delete(&orphan, &DeleteParams::default())
            .await
            .expect("deleted");
        env.wait_gone(NS, &orphan).await;
        assert!(
            fleet.remote(kind).contains(&expected(kind, 1, 0)),
            "{kind:?}: orphan kept"
        );

        // Adoption: a grant someone made, named by spec.externalID, is taken over, not made
        // again.
        let adopted = format!("adopted-{}", kind.name());
        let existing = someone_else(&fleet, kind)
            .create(&desired(&spec(kind, 2, 0)))
            .await
            .expect("granted by someone else");
        let creates = fleet.requests(kind, "POST") + fleet.requests(kind, "PUT");
        let mut adopting = spec(kind, 2, 0);
        adopting["externalID"] = json!(existing.external_id.as_str());
        env.create_ra(NS, &adopted, adopting, json!({})).await;
        env.wait_ra(NS, &adopted, "Ready", is_ready).await;
        env.wait_event(NS, &adopted, "Adopted").await;
        assert_eq!(
            fleet.requests(kind, "POST") + fleet.requests(kind, "PUT"),
            creates,
            "{kind:?}: adopting wrote nothing"
        );
    }

    // The leader dies: the standby takes the Lease and carries on.
    let lease = Api::<Lease>::namespaced(admin.clone(), SYSTEM)
        .get("rolesync-leader")
        .await
        .expect("the leader's Lease");
    let holder = lease
        .spec
        .and_then(|s| s.holder_identity)
        .expect("a holder");
    let index = replicas
        .iter()
        .position(|(pod, _)| *pod == holder)
        .unwrap_or_else(|| panic!("the Lease names {holder}"));
    let (_, leader) = replicas.swap_remove(index);
    leader.kill().await;
    env.create_ra(NS, "after-failover", spec(Kind::Gcore, 3, 0), json!({}))
        .await;
    env.wait_ra(NS, "after-failover", "Ready", is_ready).await;

    // Under the real RBAC authorizer nothing the operator asked for was refused.
    for (_, replica) in replicas {
        replica.stop().await;
    }
    let user = format!("system:serviceaccount:{SYSTEM}:{RELEASE}");
    let entries: Vec<Value> = std::fs::read_to_string(&log)
        .expect("audit log")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &Value| e["user"]["username"] == user.as_str())
        .collect();
    assert!(
        entries.len() > 100,
        "the operator worked as the chart's ServiceAccount: {} requests",
        entries.len()
    );
    let refused: Vec<String> = entries
        .iter()
        .filter(|e| e["responseStatus"]["code"] == 403)
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect();
    assert!(
        refused.is_empty(),
        "the chart's RBAC refused requests the operator made: {refused:#?}"
    );
}

#[tokio::test]
async fn the_sandbox_runs_on_a_real_cluster() {
    use crate::sandbox::{COLUMNS, example_files, fits_a_terminal, interrupt, read_until, sandbox};
    use tokio::io::BufReader;

    let Some(kube) = RealKube::start_or_skip(&[]).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = kube.kubeconfig.display().to_string();
    let mut child = sandbox(dir.path(), &["--kubeconfig", &kubeconfig]);
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let lines = read_until(&mut out, "sandbox ready").await;
    let table: Vec<&str> = lines
        .iter()
        .skip_while(|l| !l.starts_with("NAMESPACE "))
        .take_while(|l| !l.contains("sandbox ready"))
        .filter(|l| !l.is_empty())
        .map(String::as_str)
        .collect();
    assert_eq!(
        table
            .first()
            .map(|h| h.split_whitespace().collect::<Vec<_>>()),
        Some(COLUMNS.to_vec())
    );
    assert_eq!(table.len(), example_files() + 1, "{table:#?}");
    for row in &table[1..] {
        assert_eq!(
            crate::sandbox::cells(table[0], row)[5..7],
            ["True", "Available"],
            "{row}"
        );
    }
    fits_a_terminal(&table);
    let ready = lines.last().expect("ready line");
    assert!(ready.contains(&kube.url), "{ready}");
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("sandbox.json")).expect("sandbox.json"),
    )
    .expect("JSON");
    let canonical = kube.kubeconfig.canonicalize().expect("kubeconfig path");
    assert_eq!(
        info["kubernetes"]["kubeconfig"],
        canonical.display().to_string()
    );
    assert!(
        !dir.path().join("kubeconfig").exists(),
        "no in-memory API, so no kubeconfig of its own"
    );
    interrupt(&child);
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("stops after Ctrl-C")
        .expect("status");
    assert_eq!(status.code(), Some(0));
    kube.stop().await;
}

/// `cargo bench --bench converge -- --kube real` at a small size, for correctness only: the
/// cold and steady scenarios on the real server, rolesync's writes counted from its audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_scenarios_run_on_a_real_server() {
    use testbed::scenarios::{self, Kube, Options};
    // The benchmark starts its own server; see whether one can run here at all.
    let Some(probe) = RealKube::start_or_skip(&[]).await else {
        return;
    };
    probe.stop().await;
    let opts = Options {
        bin: PathBuf::from(env!("CARGO_BIN_EXE_rolesync")),
        gcore: 100,
        churn: 0,
        harness: 0,
        latency: Duration::from_millis(10),
        deadline: Duration::from_secs(120),
        unrelated_secrets: 0,
        kube: Kube::Real,
    };
    let results = scenarios::run(&opts, |m| println!("{}", m.json()))
        .await
        .unwrap_or_else(|e| panic!("benchmark scenarios failed: {e}"));
    let scenario = |name: &str| {
        results
            .iter()
            .find(|m| m.scenario == name)
            .unwrap_or_else(|| panic!("no {name} result in {results:#?}"))
    };
    let cold = scenario("cold");
    assert_eq!(cold.remote_left, Some(100), "{cold:?}");
    assert_eq!(cold.provider_writes, 100, "{cold:?}");
    assert!(
        (200..=301).contains(&cold.kube_writes),
        "finalizer, status and an Event each, counted from the audit log: {cold:?}"
    );
    let steady = scenario("steady");
    assert_eq!(steady.kube_writes, 0, "{steady:?}");
    assert_eq!(steady.provider_writes, 0, "{steady:?}");
    assert!(
        results
            .iter()
            .all(|m| m.scenario != "churn" && m.scenario != "limited")
    );
}
