//! The ZenML Pro provider against the ZenML simulator, over real HTTP.

use std::time::Duration;

use provider_sims::zenml::{
    Duplicates, RevokeMissing, SimAssignment, ZenmlFixtures, ZenmlSim, ZenmlSimConfig,
};
use rolesync::providers::http::HttpSettings;
use rolesync::providers::zenml::{
    Assignment, Principal, ProjectId, RoleId, Scope, TeamId, UserId, WorkspaceId, ZenmlClient,
};
use rolesync::providers::{Deletion, ExternalId, Freshness, Provider, ProviderError};
use secrecy::SecretString;
use tokio::time::Instant;
use uuid::Uuid;

const KEY: &str = "ZENPROKEY_test_5e1f0c2a9b";
const CACHED: Freshness = Freshness {
    max_age: Duration::from_secs(600),
};
const LIVE: Freshness = Freshness {
    max_age: Duration::ZERO,
};

async fn sim_with(config: ZenmlSimConfig) -> ZenmlSim {
    ZenmlSim::start(ZenmlSimConfig {
        api_key: KEY.to_owned(),
        ..config
    })
    .await
    .expect("simulator starts")
}

async fn sim() -> ZenmlSim {
    sim_with(ZenmlSimConfig::default()).await
}

fn client(sim: &ZenmlSim) -> ZenmlClient {
    ZenmlClient::new(
        &sim.endpoint(),
        SecretString::from(KEY.to_owned()),
        HttpSettings {
            timeout: Duration::from_secs(5),
            ..HttpSettings::default()
        },
    )
    .expect("client builds")
}

fn f() -> ZenmlFixtures {
    ZenmlFixtures::default()
}

fn role(n: usize) -> RoleId {
    RoleId(f().roles[n].0)
}

fn user(n: usize) -> Principal {
    Principal::User(UserId(f().user_ids[n]))
}

fn team(n: usize) -> Principal {
    Principal::Team(TeamId(f().team_ids[n]))
}

fn workspace() -> Scope {
    Scope::Workspace(WorkspaceId(f().workspace_ids[0]))
}

fn project() -> Scope {
    let (w, p) = f().projects[0];
    Scope::Project(WorkspaceId(w), ProjectId(p))
}

fn want(role: RoleId, principal: Principal, scope: Scope) -> Assignment {
    Assignment {
        role,
        principal,
        scope,
    }
}

fn logins(sim: &ZenmlSim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path == "/auth/login")
        .count()
}

fn unauthorized(sim: &ZenmlSim) -> usize {
    sim.requests().iter().filter(|r| r.status == 401).count()
}

fn remote(a: &Assignment) -> SimAssignment {
    let (user_id, team_id) = match a.principal {
        Principal::User(u) => (Some(u.0), None),
        Principal::Team(t) => (None, Some(t.0)),
    };
    let (workspace_id, project_id) = match a.scope {
        Scope::Organization => (None, None),
        Scope::Workspace(w) => (Some(w.0), None),
        Scope::Project(w, p) => (Some(w.0), Some(p.0)),
    };
    SimAssignment {
        role_id: a.role.0,
        user_id,
        team_id,
        invitation_id: None,
        workspace_id,
        project_id,
    }
}

fn rows(sim: &ZenmlSim, a: &Assignment) -> usize {
    sim.assignments()
        .iter()
        .filter(|r| **r == remote(a))
        .count()
}

#[tokio::test]
async fn assign_observe_revoke_at_every_scope_for_users_and_teams() {
    let sim = sim().await;
    let zenml = client(&sim);
    for (principal, scope) in [
        (user(1), Scope::Organization),
        (user(1), workspace()),
        (team(0), workspace()),
        (team(0), project()),
    ] {
        let w = want(role(3), principal, scope);
        assert_eq!(zenml.observe(&w, None, LIVE).await.unwrap(), None, "{w}");
        let created = zenml.create(&w).await.unwrap();
        assert!(created.up_to_date());
        assert_eq!(created.external_id.as_str(), w.to_string());
        assert!(sim.assignments().contains(&remote(&w)), "{w} not assigned");

        let seen = zenml
            .observe(&w, Some(&created.external_id), LIVE)
            .await
            .unwrap()
            .expect("found by id");
        assert!(seen.up_to_date());
        // The documented list item has no role: the list is the path's role.
        assert_eq!(seen.at_provider["role"]["id"], role(3).to_string());
        // Found again by natural key alone, e.g. after a crash before the status write.
        let again = zenml.observe(&w, None, LIVE).await.unwrap().unwrap();
        assert_eq!(again.external_id, created.external_id);

        assert_eq!(
            zenml.delete(&created.external_id, &w).await.unwrap(),
            Deletion::Deleted
        );
        assert!(!sim.assignments().contains(&remote(&w)));
        assert_eq!(
            zenml.delete(&created.external_id, &w).await.unwrap(),
            Deletion::AlreadyGone
        );
    }
    let assigns: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path != "/auth/login")
        .collect();
    assert!(assigns[2].query.contains("team_id=") && !assigns[2].query.contains("user_id="));
    assert!(assigns[3].query.contains("project_id="));
    assert_eq!(logins(&sim), 1, "one token serves every request");
}

#[tokio::test]
async fn observe_never_mixes_users_teams_or_scopes() {
    let sim = sim().await;
    let zenml = client(&sim);
    let granted = want(role(1), user(2), workspace());
    zenml.create(&granted).await.unwrap();
    for other in [
        want(role(1), user(2), Scope::Organization),
        want(role(1), user(2), project()),
        want(role(1), team(0), workspace()),
        want(role(1), user(3), workspace()),
        want(role(2), user(2), workspace()),
    ] {
        assert_eq!(
            zenml.observe(&other, None, LIVE).await.unwrap(),
            None,
            "{other} matched {granted}"
        );
    }
}

#[tokio::test]
async fn a_new_role_is_reported_as_not_up_to_date_so_it_gets_replaced() {
    let sim = sim().await;
    let zenml = client(&sim);
    let old = want(role(3), user(1), workspace());
    let old_id = zenml.create(&old).await.unwrap().external_id;
    let new = want(role(1), user(1), workspace());
    let seen = zenml
        .observe(&new, Some(&old_id), CACHED)
        .await
        .unwrap()
        .expect("the old assignment is found by its id");
    assert_eq!(seen.external_id, old_id);
    assert!(!seen.up_to_date());
    assert!(!zenml.updates_in_place());

    // Another principal's id is never taken over (that would revoke their grant).
    let foreign = want(role(3), user(2), workspace()).external_id();
    let err = zenml
        .observe(&new, Some(&foreign), CACHED)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Rejected { .. }), "{err}");
    let garbage = zenml
        .observe(&new, Some(&ExternalId::new("42")), CACHED)
        .await
        .unwrap_err();
    assert!(!garbage.is_retryable());
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_after_a_401() {
    let sim = sim().await;
    let zenml = client(&sim);
    let w = want(role(1), user(1), Scope::Organization);
    zenml.observe(&w, None, LIVE).await.unwrap();
    assert_eq!(logins(&sim), 1);
    sim.expire_tokens();
    zenml.create(&w).await.unwrap();
    assert_eq!(logins(&sim), 2);
    assert_eq!(unauthorized(&sim), 1);
    zenml.observe(&w, None, LIVE).await.unwrap().unwrap();
    assert_eq!(logins(&sim), 2);
}

#[tokio::test]
async fn tokens_are_renewed_before_expires_in_runs_out() {
    let sim = sim_with(ZenmlSimConfig {
        token_lifetime: Duration::from_secs(3),
        ..ZenmlSimConfig::default()
    })
    .await;
    let zenml = client(&sim);
    let w = want(role(1), user(1), Scope::Organization);
    let deadline = Instant::now() + Duration::from_secs(10);
    while logins(&sim) < 2 {
        assert!(Instant::now() < deadline, "the token was never renewed");
        zenml.observe(&w, None, LIVE).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        unauthorized(&sim),
        0,
        "a token was used after it expired: {:?}",
        sim.requests()
    );
}

#[tokio::test]
async fn a_revoked_key_is_a_terminal_error_without_a_retry_storm() {
    let sim = sim().await;
    let zenml = client(&sim);
    let w = want(role(1), user(1), Scope::Organization);
    zenml.observe(&w, None, LIVE).await.unwrap();
    sim.set_api_key("ZENPROKEY_rotated");
    let err = zenml.observe(&w, None, LIVE).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY));
    // The refused token, one login with the revoked key; nothing more.
    assert_eq!(unauthorized(&sim), 2, "{:?}", sim.requests());
    assert_eq!(logins(&sim), 2);
}

#[tokio::test]
async fn the_last_role_and_the_owners_admin_role_cannot_be_revoked() {
    let sim = sim().await;
    let zenml = client(&sim);
    let fixtures = f();
    let last = want(
        RoleId(fixtures.member_role_id),
        user(2),
        Scope::Organization,
    );
    let err = zenml.delete(&last.external_id(), &last).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 403, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("last role"), "{err}");
    assert!(sim.assignments().contains(&remote(&last)));

    // With a second role the member one can go.
    zenml
        .create(&want(role(3), user(2), Scope::Organization))
        .await
        .unwrap();
    assert_eq!(
        zenml.delete(&last.external_id(), &last).await.unwrap(),
        Deletion::Deleted
    );

    let owner_admin = want(
        RoleId(fixtures.admin_role_id()),
        Principal::User(UserId(fixtures.owner_id)),
        Scope::Organization,
    );
    zenml
        .create(&want(role(3), owner_admin.principal, Scope::Organization))
        .await
        .unwrap();
    let err = zenml
        .delete(&owner_admin.external_id(), &owner_admin)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("organization owner"), "{err}");
    assert_eq!(err.reason(), "Rejected");
}

/// ZenML's answer to assigning what exists is undocumented. Whichever it is, an
/// assignment someone made after the list was cached is adopted, and rolesync never adds a
/// second row of it: a refusal makes `create` look again, and where duplicates would be
/// stored the controller confirms the absence with fresh data first (`create_is_idempotent`).
#[tokio::test]
async fn an_assignment_made_meanwhile_is_adopted_not_duplicated_whatever_the_answer() {
    for duplicates in [
        Duplicates::Conflict409,
        Duplicates::Rejected400,
        Duplicates::Rejected422,
        Duplicates::Stored,
    ] {
        let sim = sim_with(ZenmlSimConfig {
            duplicates,
            ..ZenmlSimConfig::default()
        })
        .await;
        let zenml = client(&sim);
        assert!(!zenml.create_is_idempotent(), "{duplicates:?}");
        let w = want(role(1), team(1), project());
        assert_eq!(zenml.observe(&w, None, CACHED).await.unwrap(), None);
        sim.insert_assignment(remote(&w));
        // The cached list still says absent; fresh data does not.
        let fresh = zenml.observe(&w, None, LIVE).await.unwrap();
        assert!(fresh.is_some_and(|o| o.up_to_date()), "{duplicates:?}");
        if duplicates != Duplicates::Stored {
            let adopted = zenml.create(&w).await.unwrap();
            assert_eq!(adopted.external_id, w.external_id(), "{duplicates:?}");
            assert_eq!(adopted.at_provider["team"]["name"], "team-2");
        }
        assert_eq!(rows(&sim, &w), 1, "{duplicates:?}");
        sim.shutdown().await;
    }
}

/// The API reference's assign takes `invitation_id`; the simulator lists what it assigned.
#[tokio::test]
async fn the_simulator_assigns_roles_to_pending_invitations() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = sim().await;
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/auth/login", sim.endpoint()))
        .form(&[("password", KEY)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invitation = f().invitation_ids[1];
    let answer = http
        .post(format!("{}/roles/{}/assignments", sim.endpoint(), role(1)))
        .query(&[
            ("invitation_id", invitation.to_string()),
            ("workspace_id", f().workspace_ids[1].to_string()),
        ])
        .bearer_auth(login["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        sim.assignments()
            .iter()
            .any(|a| a.invitation_id == Some(invitation) && a.role_id == role(1).0)
    );
    sim.shutdown().await;
}

/// A refusal that is not about an existing assignment stands after the second look.
#[tokio::test]
async fn a_refusal_of_something_absent_stands() {
    let sim = sim_with(ZenmlSimConfig {
        duplicates: Duplicates::Rejected422,
        ..ZenmlSimConfig::default()
    })
    .await;
    let zenml = client(&sim);
    let w = want(role(1), user(1), workspace());
    sim.faults().fail_next(1, 422);
    let err = zenml.create(&w).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Rejected { status: 422, .. }),
        "{err}"
    );
    assert_eq!(rows(&sim, &w), 0);
    sim.shutdown().await;
}

/// Where ZenML stores duplicates, a second row someone else made neither confuses
/// observe nor is taken by rolesync's revoke: the delete says it was left.
#[tokio::test]
async fn a_second_identical_row_someone_made_is_reported_not_revoked() {
    let sim = sim_with(ZenmlSimConfig {
        duplicates: Duplicates::Stored,
        ..ZenmlSimConfig::default()
    })
    .await;
    let zenml = client(&sim);
    let w = want(role(2), user(3), workspace());
    let id = zenml.create(&w).await.unwrap().external_id;
    sim.insert_assignment(remote(&w));
    assert_eq!(rows(&sim, &w), 2);
    let seen = zenml.observe(&w, Some(&id), LIVE).await.unwrap().unwrap();
    assert!(seen.up_to_date());
    assert_eq!(seen.external_id, id);
    match zenml.delete(&id, &w).await.unwrap() {
        Deletion::LeftAlone(note) => assert!(note.contains("identical"), "{note}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(rows(&sim, &w), 1, "one revoke takes one row");
    sim.shutdown().await;
}

/// Revoke answers 200 (API reference); revoking what is gone answers 404 or 200
/// (undocumented): gone either way.
#[tokio::test]
async fn revoking_what_is_gone_is_gone_whatever_the_answer() {
    for revoke_missing in [RevokeMissing::NotFound, RevokeMissing::Ok] {
        let sim = sim_with(ZenmlSimConfig {
            revoke_missing,
            ..ZenmlSimConfig::default()
        })
        .await;
        let zenml = client(&sim);
        let w = want(role(2), team(0), Scope::Organization);
        let id = zenml.create(&w).await.unwrap().external_id;
        assert_eq!(zenml.delete(&id, &w).await.unwrap(), Deletion::Deleted);
        let again = zenml.delete(&id, &w).await.unwrap();
        assert!(
            matches!(again, Deletion::AlreadyGone | Deletion::Deleted),
            "{revoke_missing:?}: {again:?}"
        );
        let revokes: Vec<u16> = sim
            .requests()
            .iter()
            .filter(|r| r.method == "DELETE")
            .map(|r| r.status)
            .collect();
        let gone = match revoke_missing {
            RevokeMissing::NotFound => 404,
            RevokeMissing::Ok => 200,
        };
        assert_eq!(revokes, [200, gone], "{revoke_missing:?}");
        assert_eq!(rows(&sim, &w), 0);
        sim.shutdown().await;
    }
}

/// The API reference lists pending invitations (no user, no team) among a role's
/// assignments and takes `invitation_id` on assign: rolesync never manages them, and a
/// list holding them still answers for everyone else.
#[tokio::test]
async fn pending_invitations_are_listed_and_skipped() {
    for list_role in [false, true] {
        let sim = sim_with(ZenmlSimConfig {
            list_role,
            ..ZenmlSimConfig::default()
        })
        .await;
        let fixtures = f();
        let listed = sim.assignments_json();
        let invitation = listed
            .iter()
            .find(|a| a["invitation"].is_object())
            .expect("the fixtures hold a pending invitation");
        assert!(invitation["user"].is_null() && invitation["team"].is_null());
        assert_eq!(invitation.get("role").is_some(), list_role);

        // The member role's organization-wide list holds an invitation too.
        let zenml = client(&sim);
        let member = want(
            RoleId(fixtures.member_role_id),
            user(2),
            Scope::Organization,
        );
        let seen = zenml.observe(&member, None, LIVE).await.unwrap().unwrap();
        assert!(seen.up_to_date(), "{list_role}");
        // ... and so does the viewer role's list of the first workspace.
        let viewer = want(role(3), user(2), workspace());
        assert_eq!(zenml.observe(&viewer, None, LIVE).await.unwrap(), None);
        zenml.create(&viewer).await.unwrap();
        assert!(
            zenml
                .observe(&viewer, None, LIVE)
                .await
                .unwrap()
                .unwrap()
                .up_to_date()
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn unknown_references_are_terminal_and_readable() {
    let sim = sim().await;
    let zenml = client(&sim);
    let stranger = want(
        role(1),
        Principal::User(UserId(Uuid::from_u128(7))),
        Scope::Organization,
    );
    let err = zenml.create(&stranger).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::NotFound { status: 404, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("User 00000000-0000-0000-0000-000000000007 not found"),
        "{err}"
    );

    let (w, _) = f().projects[0];
    let (_, other_project) = f().projects[2];
    let misplaced = want(
        role(1),
        user(1),
        Scope::Project(WorkspaceId(w), ProjectId(other_project)),
    );
    let err = zenml.create(&misplaced).await.unwrap_err();
    assert!(err.to_string().contains("not found in workspace"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn page_objects_are_followed_to_the_last_page() {
    let sim = sim_with(ZenmlSimConfig {
        page_size: Some(2),
        ..ZenmlSimConfig::default()
    })
    .await;
    let zenml = client(&sim);
    let fixtures = f();
    for u in &fixtures.user_ids {
        sim.insert_assignment(remote(&want(
            role(1),
            Principal::User(UserId(*u)),
            workspace(),
        )));
    }
    let last = want(
        role(1),
        Principal::User(UserId(*fixtures.user_ids.last().unwrap())),
        workspace(),
    );
    assert!(
        zenml
            .observe(&last, None, LIVE)
            .await
            .unwrap()
            .unwrap()
            .up_to_date()
    );
    let pages: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/assignments"))
        .map(|r| r.query)
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[2].contains("page=3"), "{pages:?}");
}

#[tokio::test]
async fn a_failing_list_is_an_error_not_an_absence() {
    let sim = sim().await;
    let zenml = client(&sim);
    let w = want(role(1), user(1), Scope::Organization);
    zenml.observe(&w, None, LIVE).await.unwrap();
    sim.faults().fail_next(3, 503);
    let err = zenml.observe(&w, None, LIVE).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    sim.faults().corrupt_next(1, provider_sims::BodyFault::Html);
    let err = zenml.observe(&w, None, LIVE).await.unwrap_err();
    assert!(matches!(err, ProviderError::Malformed(_)), "{err}");
}
