//! The Harness provider against the Harness simulator, over real HTTP.

use std::time::Duration;

use std::collections::BTreeMap;

use crate::fleet::HarnessReading;
use provider_sims::BodyFault;
use provider_sims::harness::{self as sim_harness, HarnessSim, HarnessSimConfig};
use rolesync::api::HarnessConfig;
use rolesync::providers::harness::{
    Assignment, HarnessClient, Identifier, Principal, PrincipalType, Scope, ScopeLevel,
};
use rolesync::providers::http::{DEFAULT_RATE_LIMIT_BACKOFF, HttpSettings};
use rolesync::providers::{Connector, Deletion, ExternalId, Freshness, Provider, ProviderError};
use secrecy::SecretString;
use serde_json::{Value, json};

/// Shaped as Harness issues keys: `pat.<accountId>.<tokenId>.<secret>`.
const KEY: &str = "pat.acct_test.t0k3n81d3.harnessTestSecret001";
const ACCOUNT: &str = "acct_test";
const CACHED: Freshness = Freshness {
    max_age: Duration::from_secs(600),
};
const LIVE: Freshness = Freshness {
    max_age: Duration::ZERO,
};

async fn sim() -> HarnessSim {
    sim_with(HarnessReading::CURRENT.config()).await
}

async fn sim_with(config: HarnessSimConfig) -> HarnessSim {
    HarnessSim::start(HarnessSimConfig {
        api_key: KEY.to_owned(),
        account_id: ACCOUNT.to_owned(),
        ..config
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
        assert!(created.up_to_date());
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
        assert!(seen.up_to_date());
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
        assert!(created.up_to_date(), "{wire}");
        // Harness stores no level for a USER, whatever was sent.
        let stored = if kind == PrincipalType::User {
            json!({"identifier": who, "type": wire})
        } else {
            json!({"identifier": who, "type": wire, "scope_level": "project"})
        };
        assert_eq!(created.at_provider["role-assignment"]["principal"], stored);
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
    assert!(found.up_to_date());

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
    assert!(created.up_to_date());
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
    assert!(!stale.up_to_date());
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
    assert!(!seen.up_to_date());
    let created = harness.create(&disabled).await.unwrap();
    assert!(created.up_to_date());
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
            "Did not find role in /ACCOUNT/acct_test/ORGANIZATION/default/PROJECT/payments",
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
            "Did not find resource group identifier in /ACCOUNT/acct_test/ORGANIZATION/default/PROJECT/payments",
        ),
        (
            want(project(), "_project_viewer", PrincipalType::User, "mallory"),
            "user not found with the given identifier mallory in the scope /ACCOUNT/acct_test/ORGANIZATION/default/PROJECT/payments",
        ),
        (
            want(
                Scope::Org(id("nowhere")),
                "_project_viewer",
                PrincipalType::User,
                "alice",
            ),
            "Invalid scope /ACCOUNT/acct_test/ORGANIZATION/nowhere",
        ),
    ];
    for (w, text) in cases {
        let err = harness.create(&w).await.unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        // Harness answers 400 INVALID_REQUEST, not 404, for what a create refers to.
        assert!(
            matches!(err, ProviderError::Rejected { status: 400, .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("INVALID_REQUEST") && message.contains(text),
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
    assert_eq!(
        queries,
        [
            "page=0&limit=100&sort=identifier&order=ASC",
            "page=1&limit=100&sort=identifier&order=ASC"
        ]
    );
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
    // Harness's 429 says no Retry-After.
    assert_eq!(err, ProviderError::RateLimited { retry_after: None });
    assert!(err.is_retryable());
    let started = tokio::time::Instant::now();
    harness.create(&w).await.unwrap();
    // The client waited its own pause before the next request.
    assert!(started.elapsed() >= DEFAULT_RATE_LIMIT_BACKOFF - Duration::from_millis(100));
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

fn principal(kind: PrincipalType, who: &str, level: Option<ScopeLevel>) -> Principal {
    Principal {
        kind,
        identifier: who.to_owned(),
        scope_level: level,
    }
}

fn granting(scope: Scope, role: &str, principal: Principal) -> Assignment {
    Assignment::new(
        scope,
        id(role),
        id("_all_project_level_resources"),
        principal,
        false,
        None,
    )
}

fn stored_level(created: &rolesync::providers::Observed) -> Value {
    created.at_provider["role-assignment"]["principal"]["scope_level"].clone()
}

/// Each principal is found, keyed and adopted as Harness stores it, under each reading of
/// how Harness stores a service account's level.
#[tokio::test]
async fn principals_are_matched_as_harness_stores_them_under_every_reading() {
    for reading in [HarnessReading::CURRENT, HarnessReading::EARLY_2023] {
        let sim = sim_with(reading.config()).await;
        let harness = client(&sim);
        let org = || Scope::Org(id("default"));
        let cases = [
            // A USER's level is dropped: a spec that names one must still find what it made.
            (
                granting(
                    Scope::Account,
                    "_account_viewer",
                    principal(PrincipalType::User, "alice", Some(ScopeLevel::Account)),
                ),
                Value::Null,
            ),
            // A USER_GROUP left unset gets the assignment's own scope.
            (
                granting(
                    org(),
                    "_organization_viewer",
                    principal(PrincipalType::UserGroup, "sre", None),
                ),
                json!("organization"),
            ),
            // A SERVICE_ACCOUNT left unset: where it lives (the account), or, forced, the
            // assignment's scope.
            (
                granting(
                    project(),
                    "_pipeline_executor",
                    principal(PrincipalType::ServiceAccount, "ci_bot", None),
                ),
                match reading.service_account_levels {
                    sim_harness::ServiceAccountLevels::Kept => json!("account"),
                    sim_harness::ServiceAccountLevels::Forced => json!("project"),
                },
            ),
            (
                granting(
                    org(),
                    "_organization_admin",
                    principal(
                        PrincipalType::ServiceAccount,
                        "deployer",
                        Some(ScopeLevel::Organization),
                    ),
                ),
                json!("organization"),
            ),
        ];
        for (w, stored) in &cases {
            let created = harness.create(w).await.unwrap();
            assert!(created.up_to_date(), "{reading:?} {w:?}");
            assert_eq!(&stored_level(&created), stored, "{reading:?} {w:?}");
        }
        // A restarted operator (an empty cache) finds each, and creating again adopts it.
        let again = client(&sim);
        for (w, _) in &cases {
            let found = again.observe(w, None, CACHED).await.unwrap();
            assert_eq!(
                found.map(|o| (o.external_id.clone(), o.up_to_date())),
                Some((ExternalId::new(w.identifier.as_str()), true)),
                "{reading:?} {w:?}"
            );
            let adopted = again.create(w).await.unwrap();
            assert_eq!(adopted.external_id.as_str(), w.identifier.as_str());
        }
        assert_eq!(sim.assignments().len(), cases.len(), "{reading:?}");

        // A service account level other than the assignment's: kept now, refused before.
        let elsewhere = granting(
            project(),
            "_project_viewer",
            principal(
                PrincipalType::ServiceAccount,
                "ci_bot",
                Some(ScopeLevel::Account),
            ),
        );
        match reading.service_account_levels {
            sim_harness::ServiceAccountLevels::Kept => {
                let created = harness.create(&elsewhere).await.unwrap();
                assert_eq!(stored_level(&created), json!("account"));
            }
            sim_harness::ServiceAccountLevels::Forced => {
                let err = harness.create(&elsewhere).await.unwrap_err();
                assert!(!err.is_retryable(), "{err}");
                assert!(
                    err.to_string()
                        .contains("Principal should be of same scope as of role assignment"),
                    "{err}"
                );
            }
        }
        sim.shutdown().await;
    }
}

/// 64-bit FNV-1a, as rolesync names its assignments.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Before identifiers followed the level Harness stores, a USER_GROUP without a level was
/// named with none. What such a version made is adopted under the new name, not duplicated.
#[tokio::test]
async fn an_assignment_named_before_levels_counted_is_adopted_not_duplicated() {
    let sim = sim().await;
    let canonical = [
        "org=default,project=payments",
        "_all_project_level_resources",
        "_project_viewer",
        "USER_GROUP",
        "sre",
        "",
    ]
    .join("\u{1f}");
    let old_id = format!("rolesync_{:016x}", fnv1a(canonical.as_bytes()));
    sim.insert_assignment(
        Some("default"),
        Some("payments"),
        json!({"identifier": old_id, "role": "_project_viewer",
               "resource_group": "_all_project_level_resources",
               "principal": {"identifier": "sre", "type": "USER_GROUP"}}),
    )
    .expect("assignment of an earlier version");
    let w = want(
        project(),
        "_project_viewer",
        PrincipalType::UserGroup,
        "sre",
    );
    assert_ne!(w.identifier.as_str(), old_id, "the name changed");
    let harness = client(&sim);
    let found = harness.observe(&w, None, CACHED).await.unwrap();
    assert_eq!(
        found.map(|o| o.external_id),
        Some(ExternalId::new(old_id.clone()))
    );
    // Even a create (a cache that missed it) ends with the earlier assignment.
    let fresh = client(&sim);
    let created = fresh.create(&w).await.unwrap();
    assert_eq!(created.external_id.as_str(), old_id);
    assert!(created.up_to_date());
    assert_eq!(sim.assignments().len(), 1);
    sim.shutdown().await;
}

/// A level stored in capitals (Harness keeps what it was sent, in any case) is the same
/// principal to rolesync.
#[tokio::test]
async fn a_level_sent_in_capitals_is_the_same_principal() {
    let sim = sim().await;
    sim.insert_assignment(
        Some("default"),
        None,
        json!({"identifier": "by_hand", "role": "_organization_viewer",
               "resource_group": "_all_project_level_resources",
               "principal": {"identifier": "sre", "type": "USER_GROUP", "scope_level": "ACCOUNT"}}),
    )
    .expect("assignment made by hand");
    let w = granting(
        Scope::Org(id("default")),
        "_organization_viewer",
        principal(PrincipalType::UserGroup, "sre", Some(ScopeLevel::Account)),
    );
    let found = client(&sim).observe(&w, None, CACHED).await.unwrap();
    assert_eq!(
        found.map(|o| o.external_id),
        Some(ExternalId::new("by_hand"))
    );
    sim.shutdown().await;
}

/// `n` assignments in a project, named `a0`, `a1`, ...; `a<i>` is the i-th combination of
/// principal, role and resource group. Returns each one's grant by name.
fn fill(sim: &HarnessSim, n: usize) -> BTreeMap<String, Assignment> {
    let f = sim.fixtures().clone();
    let principals = f
        .users
        .iter()
        .map(|u| (PrincipalType::User, "USER", u.clone()))
        .chain(
            f.user_groups
                .iter()
                .map(|g| (PrincipalType::UserGroup, "USER_GROUP", g.clone())),
        )
        .chain(
            f.service_accounts
                .iter()
                .map(|a| (PrincipalType::ServiceAccount, "SERVICE_ACCOUNT", a.clone())),
        );
    let mut grants = BTreeMap::new();
    for (kind, wire, who) in principals {
        for role in &f.roles {
            for group in &f.resource_groups {
                if grants.len() == n {
                    return grants;
                }
                let name = format!("a{}", grants.len());
                sim.insert_assignment(
                    Some("default"),
                    Some("payments"),
                    json!({"identifier": name, "role": role, "resource_group": group,
                           "principal": {"identifier": who, "type": wire}}),
                )
                .expect("fixture assignment");
                let w = Assignment::new(
                    project(),
                    id(role),
                    id(group),
                    principal(kind, &who, None),
                    false,
                    None,
                );
                grants.insert(name, w);
            }
        }
    }
    assert_eq!(grants.len(), n, "too few fixtures");
    grants
}

/// Harness lists newest change first unless told otherwise: an assignment changed while a
/// client pages jumps to a page it already read. rolesync asks for identifier order.
#[tokio::test]
async fn an_assignment_changed_while_the_list_is_paged_is_not_missed() {
    let sim = sim().await;
    let grants = fill(&sim, 150);
    // On the second page in the default order (oldest 50) and in identifier order (a9
    // sorts after a89).
    let target = "a9";
    sim.update_after_next_list_page(Some("default"), Some("payments"), target, true);
    let harness = client(&sim);
    let found = harness
        .observe(&grants[target], None, CACHED)
        .await
        .unwrap()
        .expect("found although it changed while the list was read");
    assert_eq!(found.external_id.as_str(), target);
    assert!(!found.up_to_date(), "it was disabled meanwhile");
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.query.ends_with("&sort=identifier&order=ASC")),
        "{:?}",
        sim.requests()
    );
    sim.shutdown().await;
}

/// Harness sends the list's total since 2023, only `Link` headers before: rolesync pages
/// until a short page either way, and with a total stops as soon as it has everything.
#[tokio::test]
async fn lists_are_read_whole_with_and_without_totals() {
    for reading in [HarnessReading::CURRENT, HarnessReading::EARLY_2023] {
        let sim = sim_with(reading.config()).await;
        let grants = fill(&sim, 200);
        let harness = client(&sim);
        for (name, w) in &grants {
            let found = harness.observe(w, None, CACHED).await.unwrap();
            assert_eq!(
                found.map(|o| o.external_id),
                Some(ExternalId::new(name.clone())),
                "{reading:?}"
            );
        }
        // Two full pages; without a total only an empty third says the list ended.
        let pages = if reading.totals { 2 } else { 3 };
        assert_eq!(sim.requests().len(), pages, "{reading:?}");
        sim.shutdown().await;
    }
}

/// Harness lists only the principal types a key may view, yet refuses a duplicate of one
/// it hides: the status says which permission the key lacks.
#[tokio::test]
async fn a_duplicate_the_key_may_not_view_is_explained() {
    let sim = sim_with(HarnessSimConfig {
        hidden_principal_types: [sim_harness::PrincipalType::UserGroup].into(),
        ..HarnessReading::CURRENT.config()
    })
    .await;
    let w = want(
        project(),
        "_project_viewer",
        PrincipalType::UserGroup,
        "auditors",
    );
    sim.insert_assignment(
        Some("default"),
        Some("payments"),
        json!({"identifier": "someone_elses", "role": "_project_viewer",
               "resource_group": "_all_project_level_resources",
               "principal": {"identifier": "auditors", "type": "USER_GROUP"}}),
    )
    .expect("assignment the key cannot see");
    let harness = client(&sim);
    assert_eq!(harness.observe(&w, None, CACHED).await.unwrap(), None);
    let err = harness.create(&w).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("needs view permission on users, user groups and service accounts")
            && message.contains("DUPLICATE_FIELD"),
        "{message}"
    );
    assert_eq!(sim.assignments().len(), 1);

    // A key that may view no principal type at all is told the same.
    sim.set_hidden_principal_types(sim_harness::PrincipalType::ALL);
    let err = client(&sim).observe(&w, None, LIVE).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(
        err.to_string()
            .contains("USER_NOT_AUTHORIZED: Current principal is not authorized to the view the role assignments; the API key needs view permission on users, user groups and service accounts"),
        "{err}"
    );
    sim.shutdown().await;
}

fn connect(
    sim: &HarnessSim,
    account_id: Option<&str>,
    key: &str,
) -> Result<HarnessClient, ProviderError> {
    HarnessClient::connect(
        &HarnessConfig {
            endpoint: Some(sim.endpoint()),
            account_id: account_id.map(str::to_owned),
        },
        SecretString::from(key.to_owned()),
        HttpSettings::default(),
    )
}

#[tokio::test]
async fn the_account_is_taken_from_the_key_unless_configured() {
    let sim = sim().await;
    let w = want(
        Scope::Account,
        "_account_viewer",
        PrincipalType::User,
        "alice",
    );
    // The simulator refuses a Harness-Account header that is not the key's account.
    let from_key = connect(&sim, None, KEY).expect("the key names its account");
    from_key.create(&w).await.unwrap();
    let configured = connect(&sim, Some(ACCOUNT), KEY).expect("the same account");
    assert!(configured.observe(&w, None, LIVE).await.unwrap().is_some());
    let err = connect(&sim, Some("acct_other"), KEY).unwrap_err();
    assert_eq!(err.reason(), "InvalidProviderConfig");
    assert!(!err.to_string().contains("harnessTestSecret001"), "{err}");
    let err = connect(&sim, None, "an-older-key-shape").unwrap_err();
    assert_eq!(err.reason(), "InvalidProviderConfig");
    assert!(err.to_string().contains("set accountId"), "{err}");
    sim.shutdown().await;
}
