//! Least privilege, proven: every request the operator makes to the Kubernetes API during a
//! representative run is allowed by the RBAC the Helm chart renders, and the chart grants
//! nothing the operator did not use.

use crate::support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use rolesync::api::ProviderConfig;
use serde_json::{Value, json};
use support::{Env, GCORE_CONFIG, GCORE_KEY, condition, gcore_spec, is_ready};

/// One request as RBAC sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Access {
    verb: String,
    group: String,
    /// `resource` or `resource/subresource`.
    resource: String,
    /// None: cluster-wide (a cluster-scoped object, or a list/watch across namespaces).
    namespace: Option<String>,
}

/// One (verb, group, resource) a rule grants, and where.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Grant {
    verb: String,
    group: String,
    resource: String,
    /// None: granted by a ClusterRole bound cluster-wide.
    namespace: Option<String>,
}

/// Grants the chart's RBAC gives rolesync's ServiceAccount (the one its Deployment runs as).
impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.namespace.as_deref().unwrap_or("(cluster)");
        write!(f, "{} {}/{} in {ns}", self.verb, self.group, self.resource)
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.namespace.as_deref().unwrap_or("(cluster)");
        write!(f, "{} {}/{} in {ns}", self.verb, self.group, self.resource)
    }
}

/// One line per item, for failure messages.
fn lines<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items.into_iter().map(|i| format!("\n  {i}")).collect()
}

fn grants(objects: &[Value]) -> BTreeSet<Grant> {
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("the chart renders a Deployment");
    let sa_name = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName");
    let sa_ns = deployment["metadata"]["namespace"]
        .as_str()
        .expect("namespace");
    let binds_sa = |binding: &Value| {
        binding["subjects"].as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == sa_name && s["namespace"] == sa_ns
            })
        })
    };
    let role = |kind: &str, name: &Value, ns: Option<&Value>| {
        objects
            .iter()
            .find(|o| {
                o["kind"] == kind
                    && &o["metadata"]["name"] == name
                    && ns.is_none_or(|ns| &o["metadata"]["namespace"] == ns)
            })
            .unwrap_or_else(|| panic!("binding refers to missing {kind} {name}"))
    };
    let mut out = BTreeSet::new();
    for binding in objects.iter().filter(|o| binds_sa(o)) {
        let role_ref = &binding["roleRef"];
        let (rules, namespace) = match binding["kind"].as_str() {
            Some("ClusterRoleBinding") => {
                assert_eq!(role_ref["kind"], "ClusterRole");
                (role("ClusterRole", &role_ref["name"], None), None)
            }
            Some("RoleBinding") => {
                let ns = &binding["metadata"]["namespace"];
                let r = match role_ref["kind"].as_str() {
                    Some("Role") => role("Role", &role_ref["name"], Some(ns)),
                    _ => role("ClusterRole", &role_ref["name"], None),
                };
                (r, ns.as_str().map(str::to_owned))
            }
            other => panic!("unexpected binding kind {other:?}"),
        };
        for rule in rules["rules"].as_array().expect("rules") {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .unwrap_or_else(|| panic!("rule without {k}: {rule}"))
                    .iter()
                    .map(|v| v.as_str().expect("string").to_owned())
                    .collect()
            };
            assert!(
                rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
                "unexpected rule shape: {rule}"
            );
            for group in list("apiGroups") {
                for resource in list("resources") {
                    for verb in list("verbs") {
                        out.insert(Grant {
                            verb: verb.clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                            namespace: namespace.clone(),
                        });
                    }
                }
            }
        }
    }
    out
}

fn allows(grants: &BTreeSet<Grant>, access: &Access) -> bool {
    grants.iter().any(|g| {
        g.verb == access.verb
            && g.group == access.group
            && g.resource == access.resource
            && (g.namespace.is_none() || g.namespace == access.namespace)
    })
}

/// The requests rolesync's own client made (its User-Agent is `rolesync/<version>`).
fn operator_accesses(env: &Env) -> BTreeSet<Access> {
    env.api()
        .audit()
        .into_iter()
        .filter(|r| r.user_agent.starts_with("rolesync/") && !r.resource.is_empty())
        .map(|r| Access {
            verb: r.verb,
            group: r.api_group,
            resource: match r.subresource {
                Some(sub) => format!("{}/{sub}", r.resource),
                None => r.resource,
            },
            namespace: r.namespace,
        })
        .collect()
}

/// The chart rendered by the real Helm engine (tests/python/chart.py in the project's venv).
fn render_chart(values: Value) -> Option<Vec<Value>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("ROLESYNC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    if !python.exists() {
        assert!(
            std::env::var_os("ROLESYNC_STRICT").is_none(),
            "{} is missing; scripts/test.sh sets it up",
            python.display()
        );
        eprintln!(
            "skipping: {} is missing (scripts/test.sh creates it with helm-python-sdk)",
            python.display()
        );
        return None;
    }
    let out = Command::new(&python)
        .arg(root.join("tests/python/chart.py"))
        .arg(values.to_string())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "rendering the chart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("chart.py prints JSON"))
}

/// Create, update, conflict, a failure and its Event, a Secret rotation, delete, a standby
/// replica and a clean stop: everything rolesync does against the Kubernetes API.
async fn representative_run(env: &Env, extra: &[&str]) {
    let args: Vec<&str> = ["--leader-election", "true", "--lease-duration", "2s"]
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let leader = env.operator_as("rolesync-a", &args);
    let standby = env.operator_as("rolesync-b", &args);

    env.create_ra(
        "default",
        "one",
        gcore_spec(777, "Observer", Some(123)),
        json!({}),
    )
    .await;
    env.wait_ra("default", "one", "Ready", is_ready).await;

    // A spec change updates (or replaces) the remote assignment.
    env.ras("default")
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"gcore": {"role": "User"}}})),
        )
        .await
        .expect("spec changed");
    env.wait_ra("default", "one", "updated", |ra| {
        is_ready(ra) && ra.status.as_ref().and_then(|s| s.role.as_deref()) == Some("User")
    })
    .await;

    // A second RoleAssignment for the same remote assignment is refused with an Event.
    env.create_ra(
        "default",
        "one-again",
        gcore_spec(777, "Observer", Some(123)),
        json!({}),
    )
    .await;
    env.wait_ra("default", "one-again", "in conflict", |ra| {
        condition(ra, "Ready").is_some_and(|c| c.1 == "Conflict")
    })
    .await;

    // A namespaced ProviderConfig with its own Secret.
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "gcore-key"}, "stringData": {"apiKey": GCORE_KEY}
    }))
    .expect("secret");
    Api::<Secret>::namespaced(env.client.clone(), "default")
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
    let pc: ProviderConfig = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "ProviderConfig",
        "metadata": {"name": "gcore-local", "namespace": "default"},
        "spec": {"gcore": {"endpoint": env.gcore.endpoint()}, "credentials": {"secretRef": {"name": "gcore-key", "key": "apiKey"}}}
    }))
    .expect("config");
    Api::<ProviderConfig>::namespaced(env.client.clone(), "default")
        .create(&PostParams::default(), &pc)
        .await
        .expect("config created");
    let local = json!({"providerConfigRef": {"name": "gcore-local"}, "gcore": {"userId": 779, "role": "User", "clientId": 8}});
    env.create_ra("default", "local", local, json!({})).await;
    env.wait_ra("default", "local", "Ready", is_ready).await;

    // A rejected key: a terminal failure, reported as a Warning Event; then the Secret is fixed.
    env.gcore.set_api_key("rotated-key-5b2e");
    env.create_ra(
        "default",
        "locked",
        gcore_spec(780, "Observer", Some(123)),
        json!({}),
    )
    .await;
    env.wait_ra("default", "locked", "Unauthorized", |ra| {
        condition(ra, "Synced").is_some_and(|c| c.1 == "Unauthorized")
    })
    .await;
    Api::<Secret>::namespaced(env.client.clone(), "rolesync-system")
        .patch(
            "gcore",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"apiKey": "rotated-key-5b2e"}})),
        )
        .await
        .expect("secret rotated");
    env.wait_ra("default", "locked", "Ready", is_ready).await;

    // Deleting releases the remote assignment and the finalizer.
    env.ras("default")
        .delete("one", &Default::default())
        .await
        .expect("deleted");
    env.wait_gone("default", "one").await;

    let (code, logs) = leader.stop().await;
    assert_eq!(code, Some(0), "{logs}");
    let (code, logs) = standby.stop().await;
    assert_eq!(code, Some(0), "{logs}");
}

/// rolesync lists and watches Secrets for their metadata only (to notice rotation) and
/// reads the data of no Secret but those its provider configs name.
fn check_secret_reads(env: &Env) {
    let reads: Vec<_> = env
        .api()
        .audit()
        .into_iter()
        .filter(|r| r.user_agent.starts_with("rolesync/") && r.resource == "secrets")
        .collect();
    assert!(!reads.is_empty(), "rolesync read no Secret at all");
    for r in &reads {
        match r.verb.as_str() {
            "list" | "watch" => assert!(
                r.accept.contains("as=PartialObjectMetadata"),
                "Secrets listed or watched with their data: {r:?}"
            ),
            "get" => assert!(
                matches!(r.name.as_deref(), Some(GCORE_CONFIG | "gcore-key")),
                "read a Secret no provider config names: {r:?}"
            ),
            other => panic!("rolesync wrote a Secret ({other}): {r:?}"),
        }
    }
}

async fn check_least_privilege(values: Value, extra: &[&str]) {
    let Some(objects) = render_chart(values) else {
        return;
    };
    let granted = grants(&objects);
    for g in &granted {
        assert!(
            g.verb != "*" && g.group != "*" && g.resource != "*" && !g.resource.ends_with("/*"),
            "wildcard grant {g:?}"
        );
        if g.resource == "secrets" {
            assert!(
                ["get", "list", "watch"].contains(&g.verb.as_str()),
                "Secrets must be read-only, but the chart grants {g:?}"
            );
        }
    }

    let env = Env::start().await;
    // Present throughout and named by no config: rolesync must never read its data.
    let unrelated: Secret = serde_json::from_value(json!({
        "metadata": {"name": "unrelated", "namespace": "default"},
        "stringData": {"token": "not-for-rolesync"},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(env.client.clone(), "default")
        .create(&PostParams::default(), &unrelated)
        .await
        .expect("unrelated secret created");
    representative_run(&env, extra).await;
    check_secret_reads(&env);
    let used = operator_accesses(&env);
    assert!(!used.is_empty(), "no request by rolesync was recorded");

    let denied: Vec<&Access> = used.iter().filter(|a| !allows(&granted, a)).collect();
    assert!(
        denied.is_empty(),
        "the chart's RBAC denies requests rolesync makes:{}\ngranted:{}",
        lines(&denied),
        lines(&granted)
    );

    let unused: Vec<&Grant> = granted
        .iter()
        .filter(|g| {
            !used.iter().any(|a| {
                a.verb == g.verb
                    && a.group == g.group
                    && a.resource == g.resource
                    && (g.namespace.is_none() || g.namespace == a.namespace)
            })
        })
        .collect();
    assert!(
        unused.is_empty(),
        "the chart grants more than rolesync uses:{}\nused:{}",
        lines(&unused),
        lines(&used)
    );
}

#[tokio::test]
async fn the_chart_grants_exactly_what_the_operator_uses() {
    check_least_privilege(json!({}), &[]).await;
}

#[tokio::test]
async fn with_a_watch_namespace_the_chart_grants_exactly_what_the_operator_uses() {
    check_least_privilege(
        json!({"watchNamespace": "default"}),
        &["--namespace", "default"],
    )
    .await;
}
