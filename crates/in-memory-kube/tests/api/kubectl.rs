//! The real kubectl against rolesync's in-memory API server, with no special flags: discovery,
//! OpenAPI-driven field validation, tables, client- and server-side apply, status patches,
//! waiting on conditions, finalizers and rejected objects behave as against a real cluster.

use in_memory_kube::{ApiServer, ServerConfig};
use serde_json::Value;

use super::support::{Kubectl, Output, TestResult, kubectl_on_path};

const CRD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/widget-crd.yaml"
);
const WIDGETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/widgets.yaml");

/// A server plus a kubeconfig and discovery cache of its own, so tests run in parallel.
struct Cluster {
    kubectl: Kubectl,
}

impl Cluster {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> TestResult<Output> {
        self.kubectl.run(args, stdin).await
    }

    /// Runs kubectl, failing the test when it fails; returns stdout.
    async fn ok(&self, args: &[&str]) -> TestResult<String> {
        self.ok_with(args, None).await
    }

    async fn ok_with(&self, args: &[&str], stdin: Option<&str>) -> TestResult<String> {
        self.kubectl.ok(args, stdin).await
    }

    /// Runs kubectl, failing the test when it succeeds; returns stderr.
    async fn fails_with(&self, args: &[&str], stdin: Option<&str>) -> TestResult<String> {
        let out = self.run(args, stdin).await?;
        if out.success {
            return Err(format!("kubectl {args:?} succeeded: {}", out.stdout).into());
        }
        Ok(out.stderr)
    }

    /// Applies (client-side, validation on) and checks kubectl had nothing to warn about,
    /// e.g. falling back from server-side field validation.
    async fn apply(&self, file: &str, stdin: Option<&str>) -> TestResult<String> {
        let out = self.run(&["apply", "-f", file], stdin).await?;
        if !out.success || !out.stderr.is_empty() {
            return Err(format!("kubectl apply -f {file}: {}", out.stderr).into());
        }
        Ok(out.stdout)
    }

    async fn install_crd(&self) -> TestResult {
        self.apply(CRD, None).await?;
        self.ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.testing.rolesync.dev",
            "--timeout=30s",
        ])
        .await?;
        Ok(())
    }

    async fn widget_json(&self, name: &str) -> TestResult<Value> {
        let out = self.ok(&["get", "widget", name, "-o", "json"]).await?;
        Ok(serde_json::from_str(&out)?)
    }
}

/// Starts a server, runs `test` against it with kubectl and shuts the server down whatever
/// the outcome. Skips (passing) when kubectl is not installed.
async fn with_cluster(test: impl AsyncFnOnce(&Cluster) -> TestResult) -> TestResult {
    let Some(kubectl) = kubectl_on_path() else {
        eprintln!("skipping: kubectl is not on PATH; install kubectl 1.32 to run these tests");
        return Ok(());
    };
    let server = ApiServer::start(ServerConfig::default()).await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig_yaml())?;
    let cluster = Cluster {
        kubectl: Kubectl::in_dir(kubectl, dir.path()),
    };
    let result = test(&cluster).await;
    server.shutdown().await;
    result
}

/// `kubectl get` output, cut at the header's column offsets since empty cells print as blanks.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn parse(output: &str) -> Self {
        let mut lines = output.lines();
        let header_line = lines.next().unwrap_or_default();
        let mut starts: Vec<usize> = header_line
            .char_indices()
            .filter(|&(i, c)| c != ' ' && (i == 0 || header_line.as_bytes()[i - 1] == b' '))
            .map(|(i, _)| i)
            .collect();
        let header = header_line.split_whitespace().map(str::to_owned).collect();
        starts.push(usize::MAX);
        let rows = lines
            .map(|line| {
                starts
                    .windows(2)
                    .map(|w| {
                        let end = w[1].min(line.len());
                        line.get(w[0].min(end)..end)
                            .unwrap_or_default()
                            .trim()
                            .to_owned()
                    })
                    .collect()
            })
            .collect();
        Self { header, rows }
    }

    fn cell(&self, name: &str, column: &str) -> TestResult<&str> {
        let col = self
            .header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| format!("no column {column} in {:?}", self.header))?;
        let row = self
            .rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(name))
            .ok_or_else(|| format!("no row {name} in {:?}", self.rows))?;
        Ok(&row[col])
    }
}

fn widget(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: testing.rolesync.dev/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_get_and_discover_custom_resources() -> TestResult {
    with_cluster(async |k: &Cluster| {
        k.install_crd().await?;
        let out = k.apply(WIDGETS, None).await?;
        assert!(
            out.contains("widget.testing.rolesync.dev/alpha created"),
            "{out}"
        );
        assert!(
            out.contains("widget.testing.rolesync.dev/beta created"),
            "{out}"
        );

        let plain = Table::parse(&k.ok(&["get", "widgets"]).await?);
        assert_eq!(plain.header, ["NAME", "ROLE", "SIZE", "READY", "AGE"]);
        assert_eq!(plain.cell("alpha", "ROLE")?, "admin");
        assert_eq!(plain.cell("alpha", "SIZE")?, "3");
        // A column whose path matches nothing prints blank, as against a real cluster.
        assert_eq!(plain.cell("alpha", "READY")?, "");
        assert!(
            plain.cell("alpha", "AGE")?.ends_with('s'),
            "{:?}",
            plain.rows
        );

        let wide = Table::parse(&k.ok(&["get", "widgets", "-o", "wide"]).await?);
        assert_eq!(
            wide.header,
            ["NAME", "ROLE", "SIZE", "READY", "OWNER", "AGE"]
        );
        assert_eq!(wide.cell("alpha", "OWNER")?, "platform");
        assert_eq!(wide.cell("beta", "ROLE")?, "viewer");
        assert_eq!(wide.cell("beta", "OWNER")?, "");

        let gold = k
            .ok(&["get", "wdg", "-l", "tier=gold", "-o", "name"])
            .await?;
        assert_eq!(gold.trim(), "widget.testing.rolesync.dev/alpha");
        let not_gold = k
            .ok(&["get", "wdg", "-l", "tier!=gold", "-o", "name"])
            .await?;
        assert_eq!(not_gold.trim(), "widget.testing.rolesync.dev/beta");

        let yaml = k.ok(&["get", "widget", "alpha", "-o", "yaml"]).await?;
        assert!(yaml.contains("kind: Widget"), "{yaml}");
        assert!(yaml.contains("owner: platform"), "{yaml}");

        let by_category = k.ok(&["get", "rolesync-test", "-o", "name"]).await?;
        assert!(
            by_category.contains("widget.testing.rolesync.dev/beta"),
            "{by_category}"
        );

        let resources = k
            .ok(&[
                "api-resources",
                "--api-group=testing.rolesync.dev",
                "-o",
                "wide",
            ])
            .await?;
        let resources = Table::parse(&resources);
        assert_eq!(resources.cell("widgets", "SHORTNAMES")?, "wdg");
        assert_eq!(resources.cell("widgets", "CATEGORIES")?, "rolesync-test");
        assert_eq!(resources.cell("widgets", "NAMESPACED")?, "true");
        assert_eq!(resources.cell("widgets", "KIND")?, "Widget");

        let explain = k.ok(&["explain", "widgets.spec.role"]).await?;
        assert!(explain.contains("The role the widget grants."), "{explain}");

        // Built-in kinds print the columns upstream's printers do.
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: Opaque\nstringData:\n  user: alice\n  token: t\n";
        k.apply("-", Some(secret)).await?;
        let secrets = Table::parse(&k.ok(&["get", "secret", "creds"]).await?);
        assert_eq!(secrets.header, ["NAME", "TYPE", "DATA", "AGE"]);
        assert_eq!(secrets.cell("creds", "TYPE")?, "Opaque");
        assert_eq!(secrets.cell("creds", "DATA")?, "2");
        let namespaces = Table::parse(&k.ok(&["get", "namespace", "default"]).await?);
        assert_eq!(namespaces.header, ["NAME", "STATUS", "AGE"]);
        assert_eq!(namespaces.cell("default", "STATUS")?, "Active");
        let crds = Table::parse(&k.ok(&["get", "crd"]).await?);
        assert_eq!(crds.header, ["NAME", "SCOPE", "VERSIONS", "CREATED", "AT"]);
        assert!(
            crds.rows
                .iter()
                .any(|r| r[0] == "widgets.testing.rolesync.dev")
        );

        // A second client-side apply patches using the last-applied configuration.
        let changed = widget("alpha", "  role: admin\n  size: 4\n  owner: platform\n");
        let out = k.apply("-", Some(&changed)).await?;
        assert!(
            out.contains("widget.testing.rolesync.dev/alpha configured"),
            "{out}"
        );
        assert_eq!(k.widget_json("alpha").await?["spec"]["size"], 4);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_tracks_field_managers() -> TestResult {
    with_cluster(async |k: &Cluster| {
        k.install_crd().await?;
        let ssa = |manager: &'static str| {
            [
                "apply",
                "--server-side",
                "--field-manager",
                manager,
                "-f",
                "-",
            ]
        };
        let alice = widget("gamma", "  role: editor\n  size: 2\n  note: hello\n");
        k.ok_with(&ssa("alice"), Some(&alice)).await?;

        let bob = widget("gamma", "  role: editor\n  size: 5\n");
        let err = k.fails_with(&ssa("bob"), Some(&bob)).await?;
        assert!(err.contains("conflict with \"alice\""), "{err}");
        assert!(err.contains(".spec.size"), "{err}");
        assert_eq!(k.widget_json("gamma").await?["spec"]["size"], 2);

        let mut forced = ssa("bob").to_vec();
        forced.push("--force-conflicts");
        k.ok_with(&forced, Some(&bob)).await?;
        assert_eq!(k.widget_json("gamma").await?["spec"]["size"], 5);

        // Alice stops applying note (hers alone: removed) and size (now bob's: kept).
        let alice = widget("gamma", "  role: editor\n");
        k.ok_with(&ssa("alice"), Some(&alice)).await?;
        let spec = &k.widget_json("gamma").await?["spec"];
        assert_eq!(spec.get("note"), None, "{spec}");
        assert_eq!(spec["size"], 5);
        assert_eq!(spec["role"], "editor");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_patch_drives_wait_and_ready_column() -> TestResult {
    with_cluster(async |k: &Cluster| {
        k.install_crd().await?;
        k.apply(WIDGETS, None).await?;
        let status = r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Synced","message":"in step","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#;
        k.ok(&[
            "patch",
            "widget",
            "alpha",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ])
        .await?;
        k.ok(&[
            "wait",
            "--for=condition=Ready",
            "widget/alpha",
            "--timeout=30s",
        ])
        .await?;
        let table = Table::parse(&k.ok(&["get", "widgets"]).await?);
        assert_eq!(table.cell("alpha", "READY")?, "True");
        assert_eq!(table.cell("beta", "READY")?, "");

        // The status subresource ignores spec changes, and the main resource ignores status.
        k.ok(&[
            "patch",
            "widget",
            "alpha",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":9}}"#,
        ])
        .await?;
        k.ok(&[
            "patch",
            "widget",
            "beta",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
        ])
        .await?;
        assert_eq!(k.widget_json("alpha").await?["spec"]["size"], 3);
        assert_eq!(k.widget_json("beta").await?.get("status"), None);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_waits_for_finalizers() -> TestResult {
    with_cluster(async |k: &Cluster| {
        k.install_crd().await?;
        let held = "apiVersion: testing.rolesync.dev/v1\nkind: Widget\nmetadata:\n  name: delta\n  \
                    finalizers: [testing.rolesync.dev/hold]\nspec:\n  role: viewer\n";
        k.apply("-", Some(held)).await?;
        k.ok(&["delete", "widget", "delta", "--wait=false"]).await?;

        let obj = k.widget_json("delta").await?;
        assert!(
            obj["metadata"]["deletionTimestamp"].is_string(),
            "still present, marked for deletion: {obj}"
        );

        k.ok(&[
            "patch",
            "widget",
            "delta",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .await?;
        k.ok(&["wait", "--for=delete", "widget/delta", "--timeout=30s"])
            .await?;
        let err = k.fails_with(&["get", "widget", "delta"], None).await?;
        assert!(
            err.contains("NotFound") || err.contains("not found"),
            "{err}"
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_objects_are_rejected_naming_the_field() -> TestResult {
    with_cluster(async |k: &Cluster| {
        k.install_crd().await?;
        let apply = ["apply", "-f", "-"];

        let err = k
            .fails_with(&apply, Some(&widget("bad", "  size: 1\n")))
            .await?;
        assert!(err.contains("spec.role: Required value"), "{err}");

        let err = k
            .fails_with(&apply, Some(&widget("bad", "  role: root\n")))
            .await?;
        assert!(
            err.contains("spec.role: Unsupported value: \"root\""),
            "{err}"
        );

        let err = k
            .fails_with(&apply, Some(&widget("bad", "  role: viewer\n  size: 0\n")))
            .await?;
        assert!(err.contains("spec.size: Invalid value"), "{err}");

        // Server-side strict field validation, which kubectl only asks for once it has found
        // the fieldValidation parameter in the OpenAPI v3 document.
        let err = k
            .fails_with(
                &apply,
                Some(&widget("bad", "  role: viewer\n  colour: blue\n")),
            )
            .await?;
        assert!(err.contains("unknown field \"spec.colour\""), "{err}");

        let owned = widget("epsilon", "  role: viewer\n  owner: platform\n");
        k.apply("-", Some(&owned)).await?;
        let moved = widget("epsilon", "  role: viewer\n  owner: someone-else\n");
        let err = k.fails_with(&apply, Some(&moved)).await?;
        assert!(err.contains("spec.owner"), "{err}");
        assert!(err.contains("owner is immutable"), "{err}");
        assert_eq!(k.widget_json("epsilon").await?["spec"]["owner"], "platform");

        let listed = k.ok(&["get", "widgets", "-o", "name"]).await?;
        assert_eq!(listed.trim(), "widget.testing.rolesync.dev/epsilon");
        Ok(())
    })
    .await
}
