//! Hyperstack (NexGen Cloud Infrahub) RBAC roles of organization members.
//!
//! A member holds at most one RBAC role, so "user U holds role R" is the whole assignment
//! and its external id is the user id. Hyperstack lists members' roles by name only
//! (`GET /auth/organizations`) and maps names to ids in a second list (`GET /auth/roles`);
//! both are cached per client, so observing every member costs two requests per resync.

mod connector;

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderName;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::cache::{Change, Collection, ListCache};
use super::http::{ApiRequest, AuthHeader, HttpClient, HttpSettings, RateLimit};
use super::{Deletion, ExternalId, Freshness, Observed, Provider, ProviderError};

pub const DEFAULT_ENDPOINT: &str = "https://infrahub-api.nexgencloud.com/v1";
const PROVIDER: &str = "hyperstack";
const ORGANIZATION: &str = "/auth/organizations";
const ROLES: &str = "/auth/roles";
/// Over its limit Hyperstack blocks the whole IP for this long (and says nothing of it).
pub const BLOCK: Duration = Duration::from_secs(60);
/// How old a role list may be when resolving a role for a delete: roles change rarely,
/// and a miss is read again fresh.
const ROLE_LIST_MAX_AGE: Duration = Duration::from_secs(300);

/// Hyperstack allows 500 requests/min per IP and blocks the IP for a minute beyond that,
/// which would stop every client behind it. 300/min with a burst of 10 sends at most 310
/// in any minute, leaving 40% of the IP's budget to other configs and tools sharing it.
pub fn default_rate_limit() -> RateLimit {
    RateLimit {
        requests_per_minute: NonZeroU32::new(300).unwrap_or(NonZeroU32::MIN),
        burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
    }
}

/// A member of the organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

/// An RBAC role of the organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoleId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The role a RoleAssignment names: by id, or by name (resolved through `GET /auth/roles`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RoleRef {
    Id(RoleId),
    Name(String),
}

impl fmt::Display for RoleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "role id {id}"),
            Self::Name(name) => write!(f, "role {name:?}"),
        }
    }
}

/// What a RoleAssignment wants in Hyperstack: user `user` holds `role`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assignment {
    pub user: UserId,
    pub role: RoleRef,
}

/// `{name}`: how a member's RBAC role is listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RoleName {
    #[serde(default)]
    name: Option<String>,
}

/// An organization member as `GET /auth/organizations` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Member {
    id: u64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    username: Option<String>,
    /// The organization role ("Owner", "Member"), not an RBAC role.
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    rbac_roles: Vec<RoleName>,
}

impl Member {
    fn role_names(&self) -> Vec<&str> {
        self.rbac_roles
            .iter()
            .filter_map(|r| r.name.as_deref())
            .collect()
    }
}

#[derive(Deserialize)]
struct Organization {
    #[serde(default)]
    users: Vec<Member>,
}

#[derive(Deserialize)]
struct OrganizationBody {
    organization: Organization,
}

/// An RBAC role as `GET /auth/roles` lists it (permissions and policies are not needed).
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct RemoteRole {
    id: u64,
    name: String,
}

#[derive(Deserialize)]
struct RolesBody {
    roles: Vec<RemoteRole>,
}

/// `PUT /auth/users/{id}/assign-roles` answers with the role now held.
#[derive(Deserialize)]
struct AssignedBody {
    #[serde(default)]
    status: Option<bool>,
    #[serde(default)]
    message: Option<String>,
    role: Option<RemoteRole>,
}

#[derive(Serialize)]
struct AssignBody {
    role_id: u64,
}

/// The organization's members by id.
#[derive(Default)]
struct Members(HashMap<u64, Member>);

impl Collection for Members {
    type Item = Member;
    type Key = u64;

    fn upsert(&mut self, item: Member) {
        self.0.insert(item.id, item);
    }

    fn remove(&mut self, key: &u64) {
        self.0.remove(key);
    }
}

/// The organization's RBAC roles by id.
#[derive(Default)]
struct Roles(HashMap<u64, RemoteRole>);

impl Roles {
    /// The role `want` names; a name several roles share is refused as ambiguous.
    fn resolve(&self, want: &RoleRef) -> Result<Option<RemoteRole>, ProviderError> {
        match want {
            RoleRef::Id(id) => Ok(self.0.get(&id.0).cloned()),
            RoleRef::Name(name) => {
                let mut named = self.0.values().filter(|r| &r.name == name);
                match (named.next(), named.next()) {
                    (Some(one), None) => Ok(Some(one.clone())),
                    (None, _) => Ok(None),
                    (Some(_), Some(_)) => Err(ProviderError::Rejected {
                        status: 400,
                        message: format!(
                            "several Hyperstack roles are named {name:?}; name the role by roleId"
                        ),
                    }),
                }
            }
        }
    }
}

impl Collection for Roles {
    type Item = RemoteRole;
    type Key = u64;

    fn upsert(&mut self, item: RemoteRole) {
        self.0.insert(item.id, item);
    }

    fn remove(&mut self, key: &u64) {
        self.0.remove(key);
    }
}

/// What a member holds, as reported in `status.atProvider`.
fn observed(
    user: UserId,
    member: &Member,
    held: Option<&RemoteRole>,
    want: &RemoteRole,
) -> Observed {
    let names = member.role_names();
    Observed {
        external_id: ExternalId::new(user.to_string()),
        at_provider: serde_json::json!({
            "userId": user.0,
            "email": member.email,
            "username": member.username,
            "roleName": names.first(),
            "roleId": held.map(|r| r.id),
        }),
        up_to_date: names == [want.name.as_str()],
    }
}

/// The Hyperstack provider for one ProviderConfig: endpoint, API key and the two cached lists.
pub struct HyperstackClient {
    http: HttpClient,
    members: ListCache<(), Members, ProviderError>,
    roles: ListCache<(), Roles, ProviderError>,
}

impl fmt::Debug for HyperstackClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperstackClient")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

/// Reads `{status: false, message, error_reason}` into one line.
fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
        error_reason: Option<String>,
    }
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    match (parsed.message, parsed.error_reason) {
        (Some(m), Some(r)) if !r.is_empty() && r != m => Some(format!("{m} ({r})")),
        (Some(m), _) => Some(m),
        (None, r) => r,
    }
}

/// The user an external id names; it must be the spec's user (the id is the user id).
fn user_of(id: &ExternalId, want: &Assignment) -> Result<UserId, ProviderError> {
    match id.as_str().parse::<u64>() {
        Ok(user) if user == want.user.0 => Ok(UserId(user)),
        _ => Err(ProviderError::Rejected {
            status: 400,
            message: format!(
                "external id {:?} does not name Hyperstack user {} (the external id of a Hyperstack assignment is its user id)",
                id.as_str(),
                want.user
            ),
        }),
    }
}

const FRESH: Freshness = Freshness {
    max_age: Duration::ZERO,
};

impl HyperstackClient {
    pub fn new(
        endpoint: &str,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let auth = AuthHeader::new(HeaderName::from_static("api_key"), "", &api_key)?;
        let http = HttpClient::new(PROVIDER, endpoint, Some(auth), settings)?
            .with_error_message(error_message)
            .with_rate_limit_backoff(BLOCK);
        Ok(Self {
            http,
            members: ListCache::new(),
            roles: ListCache::new(),
        })
    }

    async fn fetch_members(&self) -> Result<Members, ProviderError> {
        let body: OrganizationBody = self
            .http
            .send(ApiRequest::get("organization", ORGANIZATION))
            .await?
            .json()?;
        Ok(Members(
            body.organization
                .users
                .into_iter()
                .map(|m| (m.id, m))
                .collect(),
        ))
    }

    async fn fetch_roles(&self) -> Result<Roles, ProviderError> {
        let body: RolesBody = self
            .http
            .send(ApiRequest::get("roles", ROLES))
            .await?
            .json()?;
        Ok(Roles(body.roles.into_iter().map(|r| (r.id, r)).collect()))
    }

    async fn member(
        &self,
        user: UserId,
        freshness: Freshness,
    ) -> Result<Option<Member>, ProviderError> {
        self.members
            .read(
                &(),
                freshness,
                || self.fetch_members(),
                |m| m.0.get(&user.0).cloned(),
            )
            .await
    }

    /// The wanted role, read again fresh when the cached list does not know it (it may
    /// be new); unknown even then is `NotFound`, which no retry can fix.
    async fn resolve(
        &self,
        want: &RoleRef,
        freshness: Freshness,
    ) -> Result<RemoteRole, ProviderError> {
        let fetch = || self.fetch_roles();
        if let Some(role) = self
            .roles
            .read(&(), freshness, fetch, |r| r.resolve(want))
            .await??
        {
            return Ok(role);
        }
        self.roles
            .read(&(), FRESH, || self.fetch_roles(), |r| r.resolve(want))
            .await??
            .ok_or_else(|| ProviderError::NotFound {
                status: 404,
                message: format!("Hyperstack has no {want}"),
            })
    }

    /// The role a member holds, by name, looked up in the cached role list.
    fn held(&self, member: &Member) -> Option<RemoteRole> {
        let name = *member.role_names().first()?;
        self.roles
            .peek(&(), |r| {
                r.0.values().find(|role| role.name == name).cloned()
            })
            .flatten()
    }

    /// One PUT: assigns the role, replacing whatever the user held.
    async fn assign(&self, want: &Assignment) -> Result<Observed, ProviderError> {
        let role = self
            .resolve(
                &want.role,
                Freshness {
                    max_age: ROLE_LIST_MAX_AGE,
                },
            )
            .await?;
        let path = format!("/auth/users/{}/assign-roles", want.user);
        let request =
            ApiRequest::new("assign", Method::PUT, path).json(&AssignBody { role_id: role.id })?;
        let answer = self
            .http
            .send(request)
            .await
            .and_then(|r| r.json::<AssignedBody>());
        let assigned = match answer {
            Ok(AssignedBody {
                status: Some(false),
                message,
                ..
            }) => {
                return Err(ProviderError::Rejected {
                    status: 200,
                    message: message.unwrap_or_else(|| "the role was not assigned".to_owned()),
                });
            }
            Ok(AssignedBody {
                role: Some(role), ..
            }) => role,
            Ok(AssignedBody { role: None, .. }) => {
                self.members.invalidate(&());
                return Err(ProviderError::Malformed(
                    "the assign answer names no role".into(),
                ));
            }
            Err(e) => {
                if !matches!(
                    e,
                    ProviderError::NotFound { .. }
                        | ProviderError::Rejected { .. }
                        | ProviderError::Unauthorized { .. }
                ) {
                    // The role may have been assigned although no usable answer came back:
                    // read the members again so the retry sees it.
                    self.members.invalidate(&());
                }
                return Err(e);
            }
        };
        let before = self
            .members
            .peek(&(), |m| m.0.get(&want.user.0).cloned())
            .flatten();
        let member = Member {
            rbac_roles: vec![RoleName {
                name: Some(assigned.name.clone()),
            }],
            ..before.unwrap_or(Member {
                id: want.user.0,
                email: None,
                username: None,
                role: None,
                rbac_roles: Vec::new(),
            })
        };
        let result = observed(want.user, &member, Some(&assigned), &assigned);
        self.roles.apply(&(), Change::Upsert(assigned));
        self.members.apply(&(), Change::Upsert(member));
        Ok(result)
    }
}

impl Provider for HyperstackClient {
    type Assignment = Assignment;

    fn updates_in_place(&self) -> bool {
        true
    }

    /// Assigning a role a member already holds changes nothing.
    fn create_is_idempotent(&self) -> bool {
        true
    }

    async fn observe(
        &self,
        want: &Assignment,
        known: Option<&ExternalId>,
        freshness: Freshness,
    ) -> Result<Option<Observed>, ProviderError> {
        if let Some(id) = known {
            user_of(id, want)?;
        }
        let wanted = self.resolve(&want.role, freshness).await?;
        let Some(member) = self.member(want.user, freshness).await? else {
            return Ok(None);
        };
        if member.role_names().is_empty() {
            return Ok(None);
        }
        let held = self.held(&member);
        Ok(Some(observed(want.user, &member, held.as_ref(), &wanted)))
    }

    async fn create(&self, want: &Assignment) -> Result<Observed, ProviderError> {
        self.assign(want).await
    }

    async fn update(
        &self,
        have: &ExternalId,
        want: &Assignment,
    ) -> Result<Observed, ProviderError> {
        user_of(have, want)?;
        self.assign(want).await
    }

    /// Removes the role only while the user still holds the one `want` names: the API
    /// removes whatever role the user has, so a role someone else set since is reported
    /// and left in place. (Hyperstack has no conditional delete; a change in the instant
    /// between the read and the DELETE cannot be caught.)
    async fn delete(
        &self,
        have: &ExternalId,
        want: &Assignment,
    ) -> Result<Deletion, ProviderError> {
        let user = user_of(have, want)?;
        let Some(member) = self.member(user, FRESH).await? else {
            return Ok(Deletion::AlreadyGone);
        };
        let names = member.role_names();
        if names.is_empty() {
            return Ok(Deletion::AlreadyGone);
        }
        let ours = match self
            .resolve(
                &want.role,
                Freshness {
                    max_age: ROLE_LIST_MAX_AGE,
                },
            )
            .await
        {
            Ok(role) => names == [role.name.as_str()],
            // Our role no longer exists, so what the user holds is someone else's.
            Err(ProviderError::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        if !ours {
            return Ok(Deletion::LeftAlone(format!(
                "user {user} now holds role {}",
                names.join(", ")
            )));
        }
        let request = ApiRequest::new(
            "remove",
            Method::DELETE,
            format!("/auth/users/{user}/roles"),
        );
        let outcome = match self.http.send(request).await {
            Ok(_) => Deletion::Deleted,
            Err(ProviderError::NotFound { .. }) => Deletion::AlreadyGone,
            Err(e) => {
                self.members.invalidate(&());
                return Err(e);
            }
        };
        self.members.apply(
            &(),
            Change::Upsert(Member {
                rbac_roles: Vec::new(),
                ..member
            }),
        );
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, roles: &[&str]) -> Member {
        Member {
            id,
            email: Some(format!("u{id}@example.com")),
            username: None,
            role: Some("Member".into()),
            rbac_roles: roles
                .iter()
                .map(|n| RoleName {
                    name: Some((*n).to_owned()),
                })
                .collect(),
        }
    }

    fn role(id: u64, name: &str) -> RemoteRole {
        RemoteRole {
            id,
            name: name.to_owned(),
        }
    }

    #[test]
    fn up_to_date_only_when_the_one_role_matches() {
        let dev = role(2, "developer");
        let held = role(2, "developer");
        let one = observed(UserId(7), &member(7, &["developer"]), Some(&held), &dev);
        assert!(one.up_to_date);
        assert_eq!(one.external_id.as_str(), "7");
        assert_eq!(one.at_provider["roleId"], 2);
        assert_eq!(one.at_provider["roleName"], "developer");
        assert!(!observed(UserId(7), &member(7, &["admin"]), None, &dev).up_to_date);
        assert!(!observed(UserId(7), &member(7, &["developer", "admin"]), None, &dev).up_to_date);
    }

    #[test]
    fn roles_resolve_by_id_and_unambiguous_name() {
        let mut roles = Roles::default();
        roles.upsert(role(1, "admin"));
        roles.upsert(role(2, "viewer"));
        roles.upsert(role(3, "viewer"));
        assert_eq!(
            roles.resolve(&RoleRef::Id(RoleId(1))).unwrap(),
            Some(role(1, "admin"))
        );
        assert_eq!(
            roles.resolve(&RoleRef::Name("admin".into())).unwrap(),
            Some(role(1, "admin"))
        );
        assert_eq!(roles.resolve(&RoleRef::Id(RoleId(9))).unwrap(), None);
        assert_eq!(roles.resolve(&RoleRef::Name("Admin".into())).unwrap(), None);
        assert!(matches!(
            roles.resolve(&RoleRef::Name("viewer".into())),
            Err(ProviderError::Rejected { .. })
        ));
    }

    #[test]
    fn external_id_must_be_the_user() {
        let want = Assignment {
            user: UserId(7),
            role: RoleRef::Id(RoleId(1)),
        };
        assert_eq!(user_of(&ExternalId::new("7"), &want).unwrap(), UserId(7));
        assert!(user_of(&ExternalId::new("8"), &want).is_err());
        assert!(user_of(&ExternalId::new("x"), &want).is_err());
    }

    #[test]
    fn error_bodies_become_one_line() {
        let body = br#"{"status":false,"message":"Role not found","error_reason":"not_found"}"#;
        assert_eq!(error_message(body).unwrap(), "Role not found (not_found)");
        assert_eq!(
            error_message(br#"{"status":false,"message":"Invalid API key"}"#).unwrap(),
            "Invalid API key"
        );
        assert_eq!(error_message(b"<html>"), None);
    }

    #[test]
    fn default_rate_limit_stays_well_under_the_block_threshold() {
        let rl = default_rate_limit();
        // The most that can go out in any one minute.
        let worst = rl.requests_per_minute.get() + rl.burst.get();
        assert!(
            worst <= 350,
            "{worst} requests/min is too close to Hyperstack's 500"
        );
    }
}
