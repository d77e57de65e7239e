//! `rolesync sandbox` started as a user starts it: the binary, its stdout, kubectl against
//! it, Ctrl-C to stop.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(60);

fn sandbox(dir: &Path, extra: &[&str]) -> Child {
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
async fn read_until(out: &mut BufReader<ChildStdout>, until: &str) -> Vec<String> {
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

fn interrupt(child: &Child) {
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
        .position(|l| l.starts_with("NAMESPACE/NAME"))
        .unwrap_or_else(|| panic!("no table:\n{}", lines.join("\n")));
    let columns: Vec<&str> = lines[header].split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "NAMESPACE/NAME",
            "PROVIDER",
            "ROLE",
            "PRINCIPAL",
            "EXTERNAL-ID",
            "READY",
            "SYNCED"
        ]
    );
    let rows: Vec<Vec<&str>> = lines[header + 1..]
        .iter()
        .take_while(|l| !l.contains("sandbox ready"))
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), example_files(), "one row per example: {rows:?}");
    let mut providers = std::collections::BTreeSet::new();
    for row in &rows {
        // Roles such as "Account Viewer" may hold spaces: count the columns from the end.
        let n = row.len();
        assert!(n >= 7, "short row {row:?}");
        assert_eq!(
            &row[n - 2..],
            ["True", "True"],
            "not Ready and Synced: {row:?}"
        );
        assert_ne!(row[n - 3], "-", "no external id: {row:?}");
        assert!(row[0].starts_with("default/"), "{row:?}");
        providers.insert(row[1].to_owned());
    }
    assert_eq!(
        providers.into_iter().collect::<Vec<_>>(),
        ["gcore", "harness", "hyperstack", "zenml"]
    );
    assert!(
        rows.iter()
            .any(|r| r[0] == "default/alice-observer-project-123")
    );

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
            let get = Command::new(&kubectl)
                .args(["--kubeconfig", &kc, "get", "ra", "-A", "-o", "wide"])
                .output()
                .await
                .expect("kubectl runs");
            let text = String::from_utf8_lossy(&get.stdout);
            assert!(
                get.status.success(),
                "{}",
                String::from_utf8_lossy(&get.stderr)
            );
            assert_eq!(text.lines().count(), rows.len() + 1, "{text}");
            assert!(text.contains("alice-observer-project-123"), "{text}");
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
        None => eprintln!("skipping the kubectl part: kubectl is not on PATH"),
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

fn which_kubectl() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|p| p.join("kubectl"))
            .find(|p| p.is_file())
    })
}

/// The example files `examples/` holds, which the sandbox applies.
fn example_files() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .expect("examples/ is readable")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml"))
        })
        .count()
}
