//! The Harness provider against the Harness simulator, over real HTTP.

use std::time::Duration;

use provider_sims::BodyFault;
use provider_sims::harness::{HarnessSim, HarnessSimConfig};
use rolesync::providers::harness::{
    Assignment, HarnessClient, Identifier, Principal, PrincipalType, Scope, ScopeLevel,
};
use rolesync::providers::http::HttpSettings;
use rolesync::providers::{Deletion, ExternalId, Freshness, Provider, ProviderError};
use secrecy::SecretString;
use serde_json::json;

const KEY: &str = "harness-test-key-81d3";
const ACCOUNT: &str = "acct_test";
const CACHED: Freshness = Freshness {
    max_age: Duration::from_secs(600),
};
const LIVE: Freshness = Freshness {
    max_age: Duration::ZERO,
};

async fn sim() -> HarnessSim {
    HarnessSim::start(HarnessSimConfig {
        api_key: KEY.to_owned(),
        account_id: ACCOUNT.to_owned(),
        ..HarnessSimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn client_with(sim: &HarnessSim, account: &str, key: &str) -> HarnessClient {
    HarnessClient::new(
        &sim.endpoint(),
        account,
        SecretString::from(key.to_owned()),
        HttpSettings {
            timeout: Duration::from_secs(5),
            ..HttpSettings::default()
        },
    )
    .expect("client builds")
}

fn client(sim: &HarnessSim) -> HarnessClient {
    client_with(sim, ACCOUNT, KEY)
}

fn id(s: &str) -> Identifier {
    Identifier::parse(s).expect("valid identifier")
}

fn project() -> Scope {
    Scope::Project {
        org: id("default"),
        project: id("payments"),
    }
}

fn want(scope: Scope, role: &str, kind: PrincipalType, who: &str) -> Assignment {
    Assignment::new(
        scope,
        id(role),
        id("_all_project_level_resources"),
        Principal {
            kind,
            identifier: who.to_owned(),
            scope_level: None,
        },
        false,
        None,
    )
}

fn methods(sim: &HarnessSim) -> Vec<String> {
    sim.requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn create_observe_delete_round_trip_in_every_scope() {
    let sim = sim().await;
    let harness = client(&sim);
    let scopes = [
        (Scope::Account, "/v1/role-assignments", None, None),
        (
            Scope::Org(id("default")),
            "/v1/orgs/default/role-assignments",
            Some("default"),
            None,
        ),
        (
            project(),
            "/v1/orgs/default/projects/payments/role-assignments",
            Some("default"),
            Some("payments"),
        ),
    ];
    for (scope, path, org, proj) in scopes {
        let w = want(scope, "_project_viewer", PrincipalType::User, "alice");
        assert_eq!(harness.observe(&w, None, LIVE).await.unwrap(), None);
        let created = harness.create(&w).await.unwrap();
        assert!(created.up_to_date);
        assert_eq!(created.external_id.as_str(), w.identifier.as_str());
        assert!(created.external_id.as_str().starts_with("rolesync_"));
        assert_eq!(
            created.at_provider["role-assignment"]["principal"],
            json!({"identifier": "alice", "type": "USER"})
        );
        let remote = sim
            .assignments()
            .into_iter()
            .find(|a| a["role-assignment"]["identifier"] == w.identifier.as_str())
            .expect("created remotely");
        assert_eq!(
            (remote["org"].as_str(), remote["project"].as_str()),
            (org, proj)
        );
        assert!(
            methods(&sim).contains(&format!("POST {path}")),
            "{:?}",
            methods(&sim)
        );

        let seen = harness
            .observe(&w, Some(&created.external_id), LIVE)
            .await
            .unwrap()
            .unwrap();
        assert!(seen.up_to_date);
        assert_eq!(
            harness.delete(&created.external_id, &w).await.unwrap(),
            Deletion::Deleted
        );
        assert!(
            methods(&sim).contains(&format!("DELETE {path}/{}", w.identifier)),
            "{:?}",
            methods(&sim)
        );
        assert_eq!(
            harness.delete(&created.external_id, &w).await.unwrap(),
            Deletion::AlreadyGone
        );
        assert_eq!(harness.observe(&w, None, LIVE).await.unwrap(), None);
    }
    assert!(sim.assignments().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn every_principal_type_is_sent_as_harness_names_it() {
    let sim = sim().await;
    let harness = client(&sim);
    for (kind, who, wire) in [
        (PrincipalType::User, "bob", "USER"),
        (PrincipalType::UserGroup, "developers", "USER_GROUP"),
        (PrincipalType::ServiceAccount, "ci_bot", "SERVICE_ACCOUNT"),
    ] {
        let mut w = want(project(), "_project_admin", kind, who);
        w.principal.scope_level = Some(ScopeLevel::Project);
        let created = harness.create(&w).await.unwrap();
        assert!(created.up_to_date, "{wire}");
        assert_eq!(
            created.at_provider["role-assignment"]["principal"],
            json!({"identifier": who, "type": wire, "scope_level": "project"})
        );
    }
    assert_eq!(sim.assignments().len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_existing_equal_assignment_is_adopted_not_duplicated() {
    let sim = sim().await;
    sim.insert_assignment(
        Some("default"),
        Some("payments"),
        json!({"identifier": "made_by_hand", "role": "_project_viewer",
               "resource_group": "_all_project_level_resources",
               "principal": {"identifier": "carol", "type": "USER", "scope_level": "account"}}),
    )
    .expect("fixture assignment");
    let harness = client(&sim);
    let w = want(project(), "_project_viewer", PrincipalType::User, "carol");
    let found = harness.observe(&w, None, CACHED).await.unwrap().unwrap();
    assert_eq!(found.external_id.as_str(), "made_by_hand");
    assert!(found.up_to_date);

    // A create that races with someone else's is refused by Harness and resolves to theirs.
    let raced = harness.create(&w).await.unwrap();
    assert_eq!(raced.external_id.as_str(), "made_by_hand");
    assert_eq!(sim.assignments().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_grant_always_gets_the_same_identifier_so_a_retry_never_duplicates() {
    let sim = sim().await;
    let first = client(&sim);
    let w = want(
        project(),
        "_project_viewer",
        PrincipalType::UserGroup,
        "sre",
    );
    first.create(&w).await.unwrap();
    // A second process (a restarted operator) with an empty cache and the same spec.
    let second = client(&sim);
    let again = want(
        project(),
        "_project_viewer",
        PrincipalType::UserGroup,
        "sre",
    );
    assert_eq!(again.identifier, w.identifier);
    let created = second.create(&again).await.unwrap();
    assert_eq!(created.external_id.as_str(), w.identifier.as_str());
    assert!(created.up_to_date);
    assert_eq!(sim.assignments().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_new_role_coexists_with_the_old_until_it_is_deleted() {
    let sim = sim().await;
    let harness = client(&sim);
    let old = want(project(), "_project_viewer", PrincipalType::User, "dave");
    let old_id = harness.create(&old).await.unwrap().external_id;
    let new = want(project(), "_project_admin", PrincipalType::User, "dave");
    assert!(!harness.updates_in_place());
    let stale = harness
        .observe(&new, Some(&old_id), CACHED)
        .await
        .unwrap()
        .unwrap();
    assert!(!stale.up_to_date);
    assert_eq!(stale.external_id, old_id);
    assert_eq!(harness.observe(&new, None, CACHED).await.unwrap(), None);
    let created = harness.create(&new).await.unwrap();
    assert_ne!(created.external_id, old_id);
    assert_eq!(sim.assignments().len(), 2, "old and new coexist");
    harness.delete(&old_id, &new).await.unwrap();
    let left = sim.assignments();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["role-assignment"]["role"], "_project_admin");
    sim.shutdown().await;
}

#[tokio::test]
async fn toggling_disabled_replaces_the_one_assignment_harness_allows_per_grant() {
    let sim = sim().await;
    let harness = client(&sim);
    let enabled = want(project(), "_project_viewer", PrincipalType::User, "alice");
    let first = harness.create(&enabled).await.unwrap();
    let disabled = Assignment::new(
        enabled.scope.clone(),
        enabled.role.clone(),
        enabled.resource_group.clone(),
        enabled.principal.clone(),
        true,
        None,
    );
    assert_ne!(disabled.identifier, enabled.identifier);
    let seen = harness
        .observe(&disabled, Some(&first.external_id), CACHED)
        .await
        .unwrap()
        .unwrap();
    assert!(!seen.up_to_date);
    let created = harness.create(&disabled).await.unwrap();
    assert!(created.up_to_date);
    assert_eq!(
        harness.delete(&first.external_id, &disabled).await.unwrap(),
        Deletion::AlreadyGone
    );
    let left = sim.assignments();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["role-assignment"]["disabled"], true);

    // With a fixed identifier old and new would share it: refused, readably, not looped.
    let mut fixed = disabled.clone();
    fixed.disabled = false;
    let err = harness.create(&fixed).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains("fixed by spec.harness.identifier"),
        "{err}"
    );
    assert_eq!(sim.assignments().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_references_are_terminal_and_readable() {
    let sim = sim().await;
    let harness = client(&sim);
    let cases = [
        (
            want(project(), "_no_such_role", PrincipalType::User, "alice"),
            "Role with identifier [_no_such_role] not found",
        ),
        (
            Assignment::new(
                project(),
                id("_project_viewer"),
                id("no_such_group"),
                Principal {
                    kind: PrincipalType::User,
                    identifier: "alice".into(),
                    scope_level: None,
                },
                false,
                None,
            ),
            "Resource group with identifier [no_such_group] not found",
        ),
        (
            want(project(), "_project_viewer", PrincipalType::User, "mallory"),
            "Principal USER [mallory] not found",
        ),
        (
            want(
                Scope::Org(id("nowhere")),
                "_project_viewer",
                PrincipalType::User,
                "alice",
            ),
            "Organization with identifier [nowhere] not found",
        ),
    ];
    for (w, text) in cases {
        let err = harness.create(&w).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(
            matches!(err, ProviderError::NotFound { status: 404, .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("ENTITY_NOT_FOUND") && message.contains(text),
            "{message}"
        );
    }
    assert!(sim.assignments().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_taken_custom_identifier_is_a_readable_terminal_error() {
    let sim = sim().await;
    let harness = client(&sim);
    let mut first = want(project(), "_project_viewer", PrincipalType::User, "alice");
    first.identifier = id("team_access");
    harness.create(&first).await.unwrap();
    let mut second = want(project(), "_project_admin", PrincipalType::User, "bob");
    second.identifier = id("team_access");
    let err = harness.create(&second).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("identifier team_access is already used"),
        "{err}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_key_or_account_is_unauthorized_and_never_echoed() {
    let sim = sim().await;
    let w = want(
        Scope::Account,
        "_account_viewer",
        PrincipalType::User,
        "alice",
    );
    let wrong_key = client_with(&sim, ACCOUNT, "wrong-key-123");
    let err = wrong_key.observe(&w, None, LIVE).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(!format!("{err} {err:?} {wrong_key:?}").contains("wrong-key-123"));
    let wrong_account = client_with(&sim, "other_account", KEY);
    let err = wrong_account.create(&w).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unauthorized { status: 403, .. }),
        "{err}"
    );
    assert!(sim.assignments().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn observing_many_costs_one_paged_list_per_scope() {
    let sim = sim().await;
    let harness = client(&sim);
    let users = ["alice", "bob", "carol", "dave"];
    let roles = sim.fixtures().roles.clone();
    let groups = sim.fixtures().resource_groups.clone();
    let mut n = 0;
    for role in &roles {
        for group in &groups {
            for user in users {
                sim.insert_assignment(
                    Some("default"),
                    Some("payments"),
                    json!({"identifier": format!("a{n}"), "role": role, "resource_group": group,
                           "principal": {"identifier": user, "type": "USER"}}),
                )
                .unwrap();
                n += 1;
            }
        }
    }
    assert!(n > 100, "needs more than one page");
    let last = want(
        project(),
        roles.last().unwrap(),
        PrincipalType::User,
        "dave",
    );
    let last = Assignment::new(
        last.scope,
        last.role,
        id(groups.last().unwrap()),
        last.principal,
        false,
        None,
    );
    let found = harness.observe(&last, None, CACHED).await.unwrap().unwrap();
    assert_eq!(found.external_id.as_str(), format!("a{}", n - 1));
    let queries: Vec<String> = sim.requests().into_iter().map(|r| r.query).collect();
    assert_eq!(queries, ["page=0&limit=100", "page=1&limit=100"]);
    for user in ["alice", "bob"] {
        let w = want(project(), "_project_viewer", PrincipalType::User, user);
        assert!(harness.observe(&w, None, CACHED).await.unwrap().is_some());
    }
    assert_eq!(sim.requests().len(), 2, "answered from the cached list");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_create_without_a_usable_answer_is_found_on_retry() {
    let sim = sim().await;
    let harness = client(&sim);
    let w = want(project(), "_project_viewer", PrincipalType::User, "bob");
    assert_eq!(harness.observe(&w, None, CACHED).await.unwrap(), None);
    sim.faults().corrupt_next(1, BodyFault::Truncated);
    let err = harness.create(&w).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let found = harness.observe(&w, None, CACHED).await.unwrap();
    assert_eq!(
        found.map(|o| o.external_id),
        Some(ExternalId::new(w.identifier.as_str()))
    );
    assert_eq!(sim.assignments().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limiting_pauses_instead_of_hammering() {
    let sim = sim().await;
    let harness = client(&sim);
    sim.faults().fail_next(1, 429);
    let w = want(
        Scope::Account,
        "_account_viewer",
        PrincipalType::User,
        "alice",
    );
    let err = harness.create(&w).await.unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }));
    assert!(err.is_retryable());
    let started = tokio::time::Instant::now();
    harness.create(&w).await.unwrap();
    // The simulator said Retry-After: 1; the client waited before the next request.
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(sim.requests().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn external_ids_must_be_harness_identifiers() {
    let sim = sim().await;
    let harness = client(&sim);
    let w = want(
        Scope::Account,
        "_account_viewer",
        PrincipalType::User,
        "alice",
    );
    let err = harness
        .observe(&w, Some(&ExternalId::new("not/an id")), LIVE)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }) && !err.is_retryable());
    assert!(sim.requests().is_empty());
    sim.shutdown().await;
}
