//! Bad input from every side: invalid resources, identifiers built to escape a URL path or
//! smuggle query parameters, provider responses that are not what the API promises, hung
//! and oversized responses, and Secret references into other namespaces.

use crate::fleet;
use crate::support;

use std::time::Duration;

use fleet::{Fleet, Kind, spec};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, PostParams};
use percent_encoding::percent_decode_str;
use provider_sims::gcore::{GcoreSim, GcoreSimConfig};
use provider_sims::{BodyFault, RequestLog};
use reqwest::Method;
use rolesync::api::{ClusterProviderConfig, ProviderConfig, RoleAssignment};
use rolesync::providers::ProviderError;
use rolesync::providers::http::{ApiRequest, HttpClient, HttpSettings};
use serde_json::{Value, json};
use support::{Env, condition, is_ready};

const NS: &str = "default";

fn ra(name: &str, spec: Value) -> RoleAssignment {
    serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1",
        "kind": "RoleAssignment",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }))
    .expect("deserializes")
}

fn synced(ra: &RoleAssignment) -> Option<(String, String)> {
    ra.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Synced")
        .map(|c| (c.reason.clone(), c.message.clone()))
}

/// Specs the API server must refuse, each with the field its message must name.
pub fn invalid_specs() -> Vec<(Value, &'static str)> {
    let with = |kind, edit: &dyn Fn(&mut Value)| {
        let mut s = spec(kind, 0, 0);
        edit(&mut s);
        s
    };
    vec![
        (
            with(Kind::Gcore, &|s| s["gcore"]["userId"] = json!("alice")),
            "spec.gcore.userId",
        ),
        (
            with(Kind::Harness, &|s| {
                s["harness"]["role"] = json!("../_account_admin")
            }),
            "spec.harness.role",
        ),
        (
            with(Kind::Harness, &|s| {
                s["harness"]["project"] = json!("payments");
                s["harness"].as_object_mut().map(|h| h.remove("org"));
            }),
            "spec.harness.org",
        ),
        (
            with(Kind::Harness, &|s| {
                s["harness"]["principal"]["type"] = json!("ROOT")
            }),
            "spec.harness.principal.type",
        ),
        (
            with(Kind::Zenml, &|s| {
                s["zenml"]["roleId"] = json!("../roles?all=1")
            }),
            "spec.zenml.roleId",
        ),
        (
            with(Kind::Zenml, &|s| {
                s["zenml"]["teamId"] = json!("30000000-0000-4000-8000-000000000001")
            }),
            "spec.zenml",
        ),
        (
            with(Kind::Hyperstack, &|s| s["hyperstack"]["roleId"] = json!(1)),
            "spec.hyperstack",
        ),
        (
            with(Kind::Hyperstack, &|s| s["hyperstack"]["userId"] = json!(-3)),
            "spec.hyperstack.userId",
        ),
        (
            with(Kind::Gcore, &|s| {
                s["hyperstack"] = json!({"userId": 202, "roleName": "admin"})
            }),
            "spec",
        ),
    ]
}

#[tokio::test]
async fn schema_and_cel_invalid_resources_are_rejected_naming_the_field() {
    let env = Env::start().await;
    let cases = invalid_specs();
    // Raw objects: a typed RoleAssignment could not even hold some of these.
    let api: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        NS,
        &ApiResource::erase::<RoleAssignment>(&()),
    );
    for (i, (spec, field)) in cases.into_iter().enumerate() {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "rolesync.dev/v1alpha1",
            "kind": "RoleAssignment",
            "metadata": {"name": format!("bad-{i}"), "namespace": NS},
            "spec": spec,
        }))
        .expect("object");
        match api.create(&PostParams::default(), &obj).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{spec}: {s:?}");
                assert!(
                    s.message.contains(field),
                    "{spec}: {:?} does not name {field}",
                    s.message
                );
            }
            other => panic!("accepted an invalid spec {spec}: {other:?}"),
        }
    }
}

/// Values built to escape the path segment they are put in or to add query parameters.
const HOSTILE: [&str; 6] = [
    "../../injected",
    "x?injected=1",
    "x&injected=1",
    "x%2Finjected",
    "ünï/injected",
    "x#injected",
];

/// What a request that went wrong looks like: a path segment or query key `injected` that
/// is not one of the hostile values passed through whole (percent-encoded).
fn escaped(log: &[RequestLog]) -> Vec<String> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let intact = |raw: &str| !raw.contains("injected") || HOSTILE.contains(&decode(raw).as_str());
    log.iter()
        .filter(|r| {
            let path_ok = r.path.split('/').all(intact);
            let query_ok = r.query.split('&').all(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                decode(k) != "injected" && intact(v)
            });
            !(path_ok && query_ok)
        })
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect()
}

#[tokio::test]
async fn identifiers_cannot_change_the_request() {
    let fleet = Fleet::start().await;
    let mut op = fleet.env.operator(&[]);
    let mut created = Vec::new();
    for (i, hostile) in HOSTILE.iter().enumerate() {
        // Free-text fields that reach the providers: an explicit external id (put into
        // URL paths) for every provider, a Harness principal and a Hyperstack role name.
        let mut specs: Vec<Value> = Kind::ALL
            .iter()
            .map(|k| {
                let mut s = spec(*k, 2 + i, 0);
                s["externalID"] = json!(hostile);
                s
            })
            .collect();
        let mut h = spec(Kind::Harness, 20 + i, 0);
        h["harness"]["principal"]["identifier"] = json!(hostile);
        specs.push(h);
        let mut y = spec(Kind::Hyperstack, 20 + i, 0);
        y["hyperstack"]["roleName"] = json!(hostile);
        specs.push(y);
        for (j, s) in specs.into_iter().enumerate() {
            let name = format!("hostile-{i}-{j}");
            match fleet
                .env
                .ras(NS)
                .create(&PostParams::default(), &ra(&name, s))
                .await
            {
                Ok(_) => created.push(name),
                Err(kube::Error::Api(s)) if s.code == 422 => {}
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
    for name in &created {
        let ra = fleet
            .env
            .wait_ra(NS, name, "reconciled", |ra| synced(ra).is_some())
            .await;
        let (reason, message) = synced(&ra).unwrap_or_default();
        assert!(
            ["Rejected", "NotFound", "InvalidSpec"].contains(&reason.as_str()) && !is_ready(&ra),
            "{name}: a hostile value was not refused: {reason}: {message}"
        );
        assert!(
            message.len() < 1000,
            "{name}: unreadable status {reason}: {message}"
        );
    }
    assert!(op.is_running(), "the operator survived:\n{}", op.logs());
    let logs = [
        fleet.sims.gcore.0.requests(),
        fleet.sims.harness.0.requests(),
        fleet.sims.zenml.0.requests(),
        fleet.sims.hyperstack.0.requests(),
    ]
    .concat();
    // Cached lists and the refusals above make the count vary; some calls must have gone out.
    assert!(!logs.is_empty(), "the providers were called");
    assert_eq!(
        escaped(&logs),
        Vec::<String>::new(),
        "requests changed by input"
    );
    fleet.shutdown().await;
}

#[test]
fn the_escape_check_catches_an_escape() {
    let req = |path: &str, query: &str| RequestLog {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        status: 200,
        at: std::time::SystemTime::UNIX_EPOCH,
    };
    assert!(escaped(&[req("/v1/roles/..%2F..%2Finjected", "")]).is_empty());
    assert!(escaped(&[req("/v1/roles/x%252Finjected", "q=x%3Finjected%3D1")]).is_empty());
    assert_eq!(escaped(&[req("/v1/injected", "")]).len(), 1);
    assert_eq!(escaped(&[req("/v1/roles/x%2Finjected", "")]).len(), 1);
    assert_eq!(escaped(&[req("/v1/roles/x", "injected=1")]).len(), 1);
}

#[tokio::test]
async fn malformed_responses_leave_a_readable_status_and_no_panic() {
    let fleet = Fleet::start().await;
    let mut op = fleet.env.operator(&[]);
    let faults = [
        BodyFault::Malformed,
        BodyFault::Truncated,
        BodyFault::Html,
        BodyFault::Oversized,
    ];
    for kind in Kind::ALL {
        for (i, fault) in faults.iter().enumerate() {
            let name = format!("{}-{i}", kind.name());
            fleet.faults(kind).corrupt_next(6, *fault);
            fleet
                .env
                .create_ra(NS, &name, spec(kind, i, 0), json!({}))
                .await;
            let ra = fleet
                .env
                .wait_ra(NS, &name, "MalformedResponse", |ra| {
                    synced(ra).is_some_and(|(r, _)| r == "MalformedResponse")
                })
                .await;
            let (_, message) = synced(&ra).unwrap_or_default();
            assert!(
                message.len() < 300 && !message.contains("<html") && !message.contains("xxxxx"),
                "{name} ({fault:?}): the status quotes the body: {message}"
            );
            fleet.faults(kind).clear();
            fleet.env.wait_ra(NS, &name, "Ready", is_ready).await;
            assert_eq!(condition(&ra, "Ready").map(|c| c.0), Some("False".into()));
        }
    }
    assert!(op.is_running(), "the operator survived:\n{}", op.logs());
    fleet.shutdown().await;
}

/// Every provider talks through the one HTTP client: its timeout holds against each
/// simulator, retries included. (Its body cap is proven per provider, through the
/// operator, by the Oversized case above.)
#[tokio::test]
async fn every_request_has_a_timeout() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fleet = Fleet::start().await;
    let endpoints = [
        (Kind::Gcore, fleet.sims.gcore.0.endpoint()),
        (Kind::Harness, fleet.sims.harness.0.endpoint()),
        (Kind::Zenml, fleet.sims.zenml.0.endpoint()),
        (Kind::Hyperstack, fleet.sims.hyperstack.0.endpoint()),
    ];
    for (kind, endpoint) in endpoints {
        let http = HttpClient::new(
            "probe",
            &endpoint,
            None,
            HttpSettings {
                timeout: Duration::from_millis(300),
                ..HttpSettings::default()
            },
        )
        .expect("client");
        let probe = || ApiRequest::new("probe", Method::GET, "/");
        fleet.faults(kind).hang_next(10);
        let started = tokio::time::Instant::now();
        assert_eq!(http.send(probe()).await.err(), Some(ProviderError::Timeout));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}: retries are bounded too: {:?}",
            kind.name(),
            started.elapsed()
        );
        fleet.faults(kind).clear();
    }
    fleet.shutdown().await;
}

#[tokio::test]
async fn secrets_are_read_only_from_allowed_namespaces() {
    let fleet = Fleet::start().await;
    let env = &fleet.env;
    testbed::ensure_namespace(&env.client, "team-a")
        .await
        .expect("namespace");
    // The configs that try to borrow a key reach a simulator of their own: gcore-sandbox's
    // inventory lists the fleet's, rightly, with its own Secret.
    let key = &fleet.sims.gcore.1;
    let target = GcoreSim::start(GcoreSimConfig {
        api_key: key.clone(),
        ..GcoreSimConfig::default()
    })
    .await
    .expect("simulator starts");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "gcore-key", "namespace": "team-a"}, "stringData": {"apiKey": key}
    }))
    .expect("secret");
    Api::<Secret>::namespaced(env.client.clone(), "team-a")
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret created");
    // A cluster-wide config may not read a Secret from a tenant's namespace...
    let cluster: ClusterProviderConfig = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "ClusterProviderConfig",
        "metadata": {"name": "borrowed"},
        "spec": {"gcore": {"endpoint": target.endpoint()},
                 "credentials": {"secretRef": {"name": "gcore-key", "namespace": "team-a", "key": "apiKey"}}}
    }))
    .expect("config");
    Api::<ClusterProviderConfig>::all(env.client.clone())
        .create(&PostParams::default(), &cluster)
        .await
        .expect("config created");
    // ...and a namespaced one reads only its own namespace, whatever its secretRef says.
    let namespaced: ProviderConfig = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "ProviderConfig",
        "metadata": {"name": "reach", "namespace": "team-a"},
        "spec": {"gcore": {"endpoint": target.endpoint()},
                 "credentials": {"secretRef": {"name": "gcore-sandbox", "namespace": "rolesync-system", "key": "apiKey"}}}
    }))
    .expect("config");
    Api::<ProviderConfig>::namespaced(env.client.clone(), "team-a")
        .create(&PostParams::default(), &namespaced)
        .await
        .expect("config created");
    let _op = env.operator(&[]);

    let mut borrowed = spec(Kind::Gcore, 0, 0);
    borrowed["providerConfigRef"] = json!({"kind": "ClusterProviderConfig", "name": "borrowed"});
    env.create_ra(NS, "borrowed", borrowed, json!({})).await;
    let ra = env
        .wait_ra(NS, "borrowed", "refused", |ra| {
            synced(ra).is_some_and(|(r, _)| r == "SecretNamespaceNotAllowed")
        })
        .await;
    assert!(
        synced(&ra).is_some_and(|(_, m)| m.contains("team-a")),
        "{:?}",
        synced(&ra)
    );

    let mut reach = spec(Kind::Gcore, 1, 0);
    reach["providerConfigRef"] = json!({"kind": "ProviderConfig", "name": "reach"});
    let reach: RoleAssignment = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1", "kind": "RoleAssignment",
        "metadata": {"name": "reach", "namespace": "team-a"}, "spec": reach,
    }))
    .expect("ra");
    env.ras("team-a")
        .create(&PostParams::default(), &reach)
        .await
        .expect("created");
    env.wait_ra("team-a", "reach", "refused", |ra| {
        synced(ra).is_some_and(|(r, _)| r == "SecretNotFound")
    })
    .await;
    assert!(
        target.requests().is_empty(),
        "no request was made with a borrowed key"
    );
    target.shutdown().await;
    fleet.shutdown().await;
}
