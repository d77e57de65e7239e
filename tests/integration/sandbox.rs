//! `rolesync sandbox` started as a user starts it: the binary, its stdout, kubectl against
//! it, Ctrl-C to stop.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(60);
/// What `kubectl get ra -A` shows by default; EXTERNAL-ID and SYNCED are in `-o wide`.
pub const COLUMNS: [&str; 8] = [
    "NAMESPACE",
    "NAME",
    "PROVIDER",
    "ROLE",
    "PRINCIPAL",
    "READY",
    "REASON",
    "AGE",
];
/// A terminal's width: what the default columns must fit in.
const TERMINAL: usize = 120;

pub fn sandbox(dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rolesync"))
        .arg("sandbox")
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("rolesync sandbox starts")
}

/// Reads stdout up to and including the line `until` matches.
pub async fn read_until(out: &mut BufReader<ChildStdout>, until: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let read = async {
        loop {
            let mut line = String::new();
            let n = out.read_line(&mut line).await.expect("stdout readable");
            assert!(
                n > 0,
                "stdout closed before {until:?}; got:\n{}",
                lines.join("")
            );
            let done = line.contains(until);
            lines.push(line);
            if done {
                return;
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("no {until:?} within {WAIT:?}"));
    lines.into_iter().map(|l| l.trim_end().to_owned()).collect()
}

/// Runs a sandbox that must fail, returning its stderr.
async fn fails(dir: &Path, extra: &[&str]) -> String {
    let child = sandbox(dir, extra);
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("exits")
        .expect("output");
    assert!(!out.status.success(), "a second sandbox started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn interrupt(child: &Child) {
    let pid = child.id().expect("still running");
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test]
async fn the_sandbox_settles_every_example_and_tells_the_user_what_to_try() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = sandbox(dir.path(), &[]);
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    // Drained as it comes, so the sandbox never blocks on a full pipe.
    let mut err = child.stderr.take().expect("stderr");
    let progress = tokio::spawn(async move {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text).await;
        text
    });

    let lines = read_until(&mut out, "sandbox ready").await;
    let header = lines
        .iter()
        .position(|l| l.starts_with("NAMESPACE "))
        .unwrap_or_else(|| panic!("no table:\n{}", lines.join("\n")));
    let table: Vec<&str> = lines[header..]
        .iter()
        .take_while(|l| !l.contains("sandbox ready"))
        .filter(|l| !l.is_empty())
        .map(String::as_str)
        .collect();
    let columns: Vec<&str> = table[0].split_whitespace().collect();
    assert_eq!(columns, COLUMNS, "the columns kubectl get ra -A shows");
    let rows: Vec<Vec<&str>> = table[1..].iter().map(|l| cells(table[0], l)).collect();
    assert_eq!(rows.len(), example_files(), "one row per example: {rows:?}");
    let mut providers = std::collections::BTreeSet::new();
    for row in &rows {
        assert_eq!(row.len(), COLUMNS.len(), "{row:?}");
        assert_eq!(row[5..7], ["True", "Available"], "not Ready: {row:?}");
        assert_eq!(row[0], "default", "{row:?}");
        providers.insert(row[2].to_owned());
    }
    assert_eq!(
        providers.into_iter().collect::<Vec<_>>(),
        ["gcore", "harness", "hyperstack", "zenml"]
    );
    assert!(rows.iter().any(|r| r[1] == "alice-observer-project-123"));
    fits_a_terminal(&table);
    readme_sample_matches(&table);

    let rest = read_until(&mut out, "Ctrl-C").await;
    let kubeconfig = dir.path().canonicalize().expect("dir").join("kubeconfig");
    let kc = kubeconfig.display().to_string();
    for hint in [
        format!("kubectl --kubeconfig {kc} get ra -A -o wide"),
        format!("kubectl --kubeconfig {kc} apply -f examples/gcore-project-observer.yaml"),
        format!("kubectl --kubeconfig {kc} delete ra -n default alice-observer-project-123"),
    ] {
        assert!(
            rest.iter().any(|l| l.trim() == hint),
            "missing hint {hint:?} in:\n{}",
            rest.join("\n")
        );
    }
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("sandbox.json")).expect("sandbox.json"),
    )
    .expect("JSON");
    assert_eq!(info["kubernetes"]["kubeconfig"], kc.as_str());

    // The hints work as printed.
    match which_kubectl() {
        Some(kubectl) => {
            let get = kubectl_out(&kubectl, &kc, &["get", "ra", "-A", "-o", "wide"]).await;
            assert_eq!(get.lines().count(), rows.len() + 1, "{get}");
            assert!(get.contains("alice-observer-project-123"), "{get}");
            // The sandbox prints what kubectl prints (but for AGE, which moves on).
            let by_kubectl = kubectl_out(&kubectl, &kc, &["get", "ra", "-A"]).await;
            let without_age = |line: &str| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                cells[..cells.len() - 1].join(" ")
            };
            assert_eq!(
                by_kubectl.lines().map(without_age).collect::<Vec<_>>(),
                table.iter().map(|l| without_age(l)).collect::<Vec<_>>()
            );
            failing_grants_show_their_cause(&kubectl, &kc).await;
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let delete = Command::new(&kubectl)
                .current_dir(root)
                .args(["--kubeconfig", &kc, "delete", "ra", "-n", "default"])
                .arg("alice-observer-project-123")
                .output()
                .await
                .expect("kubectl runs");
            assert!(
                delete.status.success(),
                "{}",
                String::from_utf8_lossy(&delete.stderr)
            );
            let apply = Command::new(&kubectl)
                .current_dir(root)
                .args(["--kubeconfig", &kc, "apply", "-f"])
                .arg("examples/gcore-project-observer.yaml")
                .output()
                .await
                .expect("kubectl runs");
            assert!(
                apply.status.success(),
                "{}",
                String::from_utf8_lossy(&apply.stderr)
            );
        }
        None => {
            assert!(
                std::env::var_os("ROLESYNC_STRICT").is_none(),
                "kubectl is not on PATH"
            );
            eprintln!("skipping the kubectl part: kubectl is not on PATH");
        }
    }

    // A second sandbox can't take the same directory or the same port.
    let taken = fails(dir.path(), &[]).await;
    assert!(
        taken.contains("in use by another rolesync sandbox") && taken.contains("--dir"),
        "{taken}"
    );
    let url = info["kubernetes"]["server"].as_str().expect("server");
    let port = url.rsplit(':').next().expect("port").to_owned();
    let other = tempfile::tempdir().expect("temp dir");
    let busy = fails(other.path(), &["--port", &port]).await;
    assert!(
        busy.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{busy}"
    );

    // Ctrl-C stops it cleanly and frees the directory.
    interrupt(&child);
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("stops after Ctrl-C")
        .expect("status");
    let progress = progress.await.expect("stderr read");
    assert_eq!(status.code(), Some(0), "{progress}");
    for step in [
        "starting the Kubernetes API",
        "installing rolesync's CRDs",
        "simulators",
        "applying 10 examples",
    ] {
        assert!(
            progress.contains(step),
            "no progress line {step:?}:\n{progress}"
        );
    }
    assert!(!dir.path().join("sandbox.pid").exists());
}

pub fn which_kubectl() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    })
}

/// The example files `examples/` holds, which the sandbox applies.
pub fn example_files() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .expect("examples/ is readable")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count()
}

/// The cells of a table row as kubectl prints it: each column starts where its header
/// does (a cell may hold spaces, a role's name say).
pub fn cells<'a>(header: &str, row: &'a str) -> Vec<&'a str> {
    let starts: Vec<usize> = header
        .char_indices()
        .filter(|&(i, c)| c != ' ' && (i == 0 || header.as_bytes()[i - 1] == b' '))
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = starts.get(n + 1).copied().unwrap_or(row.len());
            row.get(start..end.min(row.len())).unwrap_or("").trim()
        })
        .collect()
}

pub fn fits_a_terminal(lines: &[&str]) {
    for line in lines {
        assert!(
            line.chars().count() <= TERMINAL,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

/// The README's sample of the sandbox's table is what it prints (but for AGE).
fn readme_sample_matches(table: &[&str]) {
    let readme = include_str!("../../README.md");
    let sample: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("NAMESPACE   NAME"))
        .take_while(|l| !l.starts_with("..."))
        .collect();
    assert!(!sample.is_empty(), "README has no sample table");
    let without_age = |line: &str| {
        let cells: Vec<&str> = line.split_whitespace().collect();
        cells[..cells.len() - 1].join(" ")
    };
    for line in sample {
        assert!(
            table.iter().any(|t| without_age(t) == without_age(line)),
            "the README shows a line the sandbox does not print: {line}\nprinted:\n{}",
            table.join("\n")
        );
    }
}

async fn kubectl_out(kubectl: &Path, kubeconfig: &str, args: &[&str]) -> String {
    let out = Command::new(kubectl)
        .args(["--kubeconfig", kubeconfig])
        .args(args)
        .output()
        .await
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A grant the provider refuses, for each provider: REASON names the cause (Synced's
/// reason), not that the assignment is still being created, and the table still fits.
async fn failing_grants_show_their_cause(kubectl: &Path, kubeconfig: &str) {
    let failing = r#"
apiVersion: rolesync.dev/v1alpha1
kind: RoleAssignment
metadata: {name: unknown-gcore-user, namespace: default}
spec:
  providerConfigRef: {kind: ClusterProviderConfig, name: gcore-sandbox}
  gcore: {userId: 999999, role: Observer, clientId: 8}
---
apiVersion: rolesync.dev/v1alpha1
kind: RoleAssignment
metadata: {name: unknown-harness-role, namespace: default}
spec:
  providerConfigRef: {kind: ClusterProviderConfig, name: harness-sandbox}
  harness:
    role: _no_such_role
    resourceGroup: _all_account_level_resources
    principal: {type: USER, identifier: alice}
---
apiVersion: rolesync.dev/v1alpha1
kind: RoleAssignment
metadata: {name: unknown-zenml-role, namespace: default}
spec:
  providerConfigRef: {kind: ClusterProviderConfig, name: zenml-sandbox}
  zenml: {roleId: 99999999-0000-4000-8000-000000000000, userId: 20000000-0000-4000-8000-000000000001}
---
apiVersion: rolesync.dev/v1alpha1
kind: RoleAssignment
metadata: {name: unknown-hyperstack-user, namespace: default}
spec:
  providerConfigRef: {kind: ClusterProviderConfig, name: hyperstack-sandbox}
  hyperstack: {userId: 999999, roleName: developer}
"#;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("failing.yaml");
    std::fs::write(&file, failing).expect("written");
    let file = file.display().to_string();
    kubectl_out(kubectl, kubeconfig, &["apply", "-f", &file]).await;
    let names = [
        "unknown-gcore-user",
        "unknown-harness-role",
        "unknown-zenml-role",
        "unknown-hyperstack-user",
    ];
    let synced_reason = "jsonpath={.status.conditions[?(@.type==\"Synced\")].reason}";
    let deadline = tokio::time::Instant::now() + WAIT;
    for name in names {
        let cause = loop {
            let reason = kubectl_out(
                kubectl,
                kubeconfig,
                &["get", "ra", "-n", "default", name, "-o", synced_reason],
            )
            .await;
            if !reason.is_empty() && reason != "ReconcileSuccess" {
                break reason;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never failed: Synced {reason:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let table = kubectl_out(kubectl, kubeconfig, &["get", "ra", "-n", "default", name]).await;
        let (header, row) = table.split_once('\n').expect("a header and a row");
        let cells = cells(header, row);
        assert_eq!(cells[4..6], ["False", cause.as_str()], "{name}: {row}");
        assert_ne!(cause, "Creating");
    }
    let all = kubectl_out(kubectl, kubeconfig, &["get", "ra", "-A"]).await;
    fits_a_terminal(&all.lines().collect::<Vec<_>>());
}
