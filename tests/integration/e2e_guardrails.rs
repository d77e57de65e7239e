//! A provider config's guardrails through the operator as users run it, for every provider:
//! RoleAssignments outside `allowedNamespaces`, `allowedRoles` or `allowedScopes` are never
//! sent to the provider (not one request) and say why; narrowing the config reports the
//! grants that fall outside it and leaves them in place, also when their resource is
//! deleted.

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use rolesync::api::{ClusterProviderConfig, RoleAssignment};
use serde_json::{Value, json};

use crate::fleet::{self, Fleet, Kind, expected, per_provider, role_name, scope};
use crate::support::{Env, WAIT, condition, is_ready};

const TENANT: &str = "tenant";
const OUTSIDER: &str = "outsider";
/// A principal and scope the simulators' fixtures leave unassigned.
const SLOT: usize = 1;

async fn namespace(env: &Env, name: &str, labels: Value) {
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
            .expect("namespace");
    Api::<Namespace>::all(env.client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
}

async fn guard(env: &Env, kind: Kind, guardrails: Value) {
    Api::<ClusterProviderConfig>::all(env.client.clone())
        .patch(
            &format!("{}-sandbox", kind.name()),
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": guardrails})),
        )
        .await
        .expect("config patched");
}

/// Waits (watching, with a deadline) until the config's first inventory is written.
async fn inventoried(env: &Env, kind: Kind) {
    let api: Api<ClusterProviderConfig> = Api::all(env.client.clone());
    let done =
        |c: Option<&ClusterProviderConfig>| c.and_then(|c| c.status.as_ref()?.inventory).is_some();
    let config = format!("{}-sandbox", kind.name());
    tokio::time::timeout(WAIT, await_condition(api, &config, done))
        .await
        .unwrap_or_else(|_| panic!("{config} was never inventoried"))
        .expect("watch works");
}

fn synced_reason(reason: &'static str) -> impl Fn(&RoleAssignment) -> bool {
    move |ra| condition(ra, "Synced").is_some_and(|(s, r)| s == "False" && r == reason)
}

async fn nothing_outside_the_guardrails_reaches_the_provider(kind: Kind) {
    let fleet = Fleet::start().await;
    let env = &fleet.env;
    namespace(env, TENANT, json!({"rolesync.dev/tenant": "yes"})).await;
    namespace(env, OUTSIDER, json!({})).await;
    let allowed_scope = scope(kind, SLOT);
    let same_scope = (0..kind.slots())
        .find(|s| *s != SLOT && scope(kind, *s) == allowed_scope)
        .expect("a second slot in the same scope");
    // Hyperstack grants organization-wide only: it has no other scope to refuse.
    let other_scope = (0..kind.slots()).find(|s| scope(kind, *s) != allowed_scope);
    guard(
        env,
        kind,
        json!({
            "allowedNamespaces": {"matchLabels": {"rolesync.dev/tenant": "yes"}},
            "allowedRoles": [role_name(kind, 0)],
            "allowedScopes": [allowed_scope],
        }),
    )
    .await;
    let op = env.operator(&[]);

    env.create_ra(TENANT, "granted", fleet::spec(kind, SLOT, 0), json!({}))
        .await;
    env.wait_ra(TENANT, "granted", "Ready", is_ready).await;
    // The config's inventory (the whole account, once per poll interval) lists the provider
    // as the operator starts: counted before, it is none of the refused resources' doing.
    inventoried(env, kind).await;
    let sent = fleet.log(kind);

    // Both name the same assignment where the provider keys it without the role (Gcore,
    // Hyperstack): one outside the guardrails claims nothing, so it never keeps the other
    // from it once that one is allowed.
    let mut refused = vec![
        (TENANT, "other-role", fleet::spec(kind, same_scope, 1)),
        (
            OUTSIDER,
            "other-namespace",
            fleet::spec(kind, same_scope, 0),
        ),
    ];
    if let Some(slot) = other_scope {
        refused.push((TENANT, "other-scope", fleet::spec(kind, slot, 0)));
    }
    for (ns, name, spec) in &refused {
        env.create_ra(ns, name, spec.clone(), json!({})).await;
    }
    for (ns, name, _) in &refused {
        env.wait_ra(ns, name, "NotPermitted", synced_reason("NotPermitted"))
            .await;
        let warning = env.wait_event(ns, name, "NotPermitted").await;
        assert_eq!(warning.type_.as_deref(), Some("Warning"), "{name}");
    }
    assert_eq!(
        fleet.log(kind),
        sent,
        "{}: not one request for what the config does not allow",
        kind.name()
    );

    // Narrowed: the role granted is no longer allowed, the other one is.
    guard(env, kind, json!({"allowedRoles": [role_name(kind, 1)]})).await;
    let held = env
        .wait_ra(
            TENANT,
            "granted",
            "NotPermitted",
            synced_reason("NotPermitted"),
        )
        .await;
    assert!(
        is_ready(&held),
        "a grant left in place is still reported Ready"
    );
    env.wait_ra(TENANT, "other-role", "Ready", is_ready).await;
    let granted = expected(kind, SLOT, 0);
    assert!(fleet.remote(kind).contains(&granted), "{granted} stays");

    // Deleting it releases the resource and leaves the grant, saying so.
    env.ras(TENANT)
        .delete("granted", &Default::default())
        .await
        .expect("deleted");
    env.wait_gone(TENANT, "granted").await;
    env.wait_event(TENANT, "granted", "LeftInPlace").await;
    assert!(
        fleet.remote(kind).contains(&granted),
        "{granted} still stays"
    );
    assert_eq!(
        fleet.requests(kind, "DELETE"),
        0,
        "{}: nothing was revoked",
        kind.name()
    );
    drop(op);
    fleet.shutdown().await;
}

per_provider! {
    [
        gcore => Kind::Gcore,
        harness => Kind::Harness,
        zenml => Kind::Zenml,
        hyperstack => Kind::Hyperstack,
    ],
    {
        outside_the_guardrails_nothing_reaches_the_provider_and_narrowing_revokes_nothing =>
            nothing_outside_the_guardrails_reaches_the_provider();
    }
}
