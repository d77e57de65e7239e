//! Hyperstack (NexGen Cloud Infrahub) RBAC roles of organization members.
//!
//! A RoleAssignment asks that member U holds RBAC role R. Hyperstack lists each member's
//! roles (`GET /auth/organizations`, `rbac_roles`: `{name}` objects per the official SDK,
//! role ids per older docs, or null) and maps ids to names in a second list
//! (`GET /auth/roles`); both are cached per client, so observing every member costs two
//! requests per resync. Whether assigning a role replaces the member's roles or adds one
//! is undocumented, and removing takes every role of the member at once, so, under
//! either reading:
//! - a member who holds R is up to date, whatever else they hold, unless they still hold
//!   a role rolesync granted for an earlier spec (a role change where assigning adds);
//! - the external id records the role rolesync granted (`201/role=3`), which is how an
//!   earlier role is known, after a crash too;
//! - roles are removed only where the member holds nothing rolesync did not grant:
//!   anything else is left in place, and rolesync says so.

mod connector;

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderName;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::cache::{Change, Collection, ListCache};
use super::http::{ApiRequest, AuthHeader, HttpClient, HttpSettings, RateLimit};
use super::{
    Deletion, Difference, ExternalId, Freshness, Listed, Observed, Provider, ProviderError,
};
use crate::api::HyperstackAssignmentSpec;

pub const DEFAULT_ENDPOINT: &str = "https://infrahub-api.nexgencloud.com/v1";
const PROVIDER: &str = "hyperstack";
const ORGANIZATION: &str = "/auth/organizations";
const ROLES: &str = "/auth/roles";
/// Over its limit Hyperstack blocks the whole IP for this long (and says nothing of it).
pub const BLOCK: Duration = Duration::from_secs(60);
/// How old a role list may be when resolving a role for a write: roles change rarely,
/// and a miss is read again fresh.
const ROLE_LIST_MAX_AGE: Freshness = Freshness {
    max_age: Duration::from_secs(300),
};
const FRESH: Freshness = Freshness {
    max_age: Duration::ZERO,
};

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

/// What an external id records: the member, and the role rolesync granted them — absent
/// from a plain user id (a hand-written `spec.externalID`, or rolesync before it
/// recorded roles), which then names no earlier grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Granted {
    user: UserId,
    role: Option<RoleId>,
}

impl Granted {
    fn external_id(self) -> ExternalId {
        ExternalId::new(match self.role {
            Some(role) => format!("{}/role={role}", self.user),
            None => self.user.to_string(),
        })
    }

    /// Reads `<user>` or `<user>/role=<role id>`; the user must be the spec's.
    fn parse(id: &ExternalId, want: &Assignment) -> Result<Self, ProviderError> {
        let (user, role) = match id.as_str().split_once("/role=") {
            Some((user, role)) => (user, Some(role)),
            None => (id.as_str(), None),
        };
        let role = role.map(|r| r.parse().map(RoleId));
        match (user.parse::<u64>(), role.transpose()) {
            (Ok(user), Ok(role)) if user == want.user.0 => Ok(Self {
                user: UserId(user),
                role,
            }),
            _ => Err(ProviderError::Rejected {
                status: 400,
                message: format!(
                    "external id {:?} does not name Hyperstack user {} (a Hyperstack external id is the user id, optionally followed by /role=<role id>)",
                    id.as_str(),
                    want.user
                ),
            }),
        }
    }
}

/// A role as far as it is known: its id, and its name unless the role is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RoleKey {
    id: u64,
    name: Option<String>,
}

impl RoleKey {
    fn of(role: &RemoteRole) -> Self {
        Self {
            id: role.id,
            name: Some(role.name.clone()),
        }
    }

    fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("id {}", self.id))
    }
}

/// One element of a member's `rbac_roles`: `{name}` per the official SDK, an integer id
/// per older docs. Anything else is kept as a role rolesync cannot identify, which is
/// therefore never one it granted.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Held {
    Id(u64),
    Name(String),
    Unknown(String),
}

impl Held {
    fn is(&self, role: &RoleKey) -> bool {
        match self {
            Self::Id(id) => *id == role.id,
            Self::Name(name) => role.name.as_ref() == Some(name),
            Self::Unknown(_) => false,
        }
    }
}

impl<'de> Deserialize<'de> for Held {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let id = |v: &Value| v.as_u64().map(Self::Id);
        let name = |v: &Value| v.as_str().map(|n| Self::Name(n.to_owned()));
        Ok(id(&value)
            .or_else(|| name(&value))
            .or_else(|| value.get("id").and_then(id))
            .or_else(|| value.get("name").and_then(name))
            .unwrap_or_else(|| Self::Unknown(value.to_string())))
    }
}

/// `rbac_roles` may be null (the SDK's `Optional[List]`): no role.
fn roles_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Held>, D::Error> {
    Ok(Option::<Vec<Held>>::deserialize(d)?.unwrap_or_default())
}

/// An organization member as `GET /auth/organizations` lists it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Member {
    id: u64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default, deserialize_with = "roles_or_none")]
    rbac_roles: Vec<Held>,
}

impl Member {
    fn holds(&self, role: &RoleKey) -> bool {
        self.rbac_roles.iter().any(|h| h.is(role))
    }

    /// The member as known without a list: holding `roles`.
    fn bare(user: UserId, roles: Vec<Held>) -> Self {
        Self {
            id: user.0,
            email: None,
            username: None,
            rbac_roles: roles,
        }
    }
}

#[derive(Deserialize)]
struct Organization {
    #[serde(default)]
    users: Option<Vec<Member>>,
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

/// `PUT /auth/users/{id}/assign-roles` answers with the role it assigned.
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

    /// The block of a RoleAssignment for `user_id` holding `held`: by name where the name
    /// names one role, else by id; `None` for a role that cannot be identified.
    fn spec_of(&self, held: &Held, user_id: i64) -> Option<HyperstackAssignmentSpec> {
        let unique = |name: &str| self.0.values().filter(|r| r.name == name).count() <= 1;
        let (role_id, role_name) = match held {
            Held::Name(name) if unique(name) => (None, Some(name.clone())),
            Held::Name(name) => {
                tracing::warn!(provider = PROVIDER, user = user_id, role = %name, "a role whose name several roles share is left out of the inventory");
                return None;
            }
            Held::Id(id) => match self.0.get(id) {
                Some(role) if unique(&role.name) => (None, Some(role.name.clone())),
                _ => (Some(i64::try_from(*id).ok()?), None),
            },
            Held::Unknown(raw) => {
                tracing::warn!(provider = PROVIDER, user = user_id, role = %raw, "a role rolesync cannot identify is left out of the inventory");
                return None;
            }
        };
        Some(HyperstackAssignmentSpec {
            user_id,
            role_id,
            role_name,
        })
    }

    /// How a held role reads: its name, and its id where known.
    fn describe(&self, held: &Held) -> (String, Option<u64>) {
        match held {
            Held::Id(id) => (
                self.0
                    .get(id)
                    .map_or_else(|| id.to_string(), |r| r.name.clone()),
                Some(*id),
            ),
            Held::Name(name) => {
                let id = self.0.values().find(|r| &r.name == name).map(|r| r.id);
                (name.clone(), id)
            }
            Held::Unknown(raw) => (raw.clone(), None),
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

/// `a, b and c`.
fn listing(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

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
                .unwrap_or_default()
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

    /// Every member's RBAC roles as RoleAssignment blocks, by member id, from the two lists
    /// observations use. A role is named as the role list names it where that name is
    /// unambiguous, else by id; a held role rolesync cannot identify is left out.
    pub(super) async fn inventory(
        &self,
        freshness: Freshness,
    ) -> Result<Vec<Listed<HyperstackAssignmentSpec>>, ProviderError> {
        let roles = self
            .roles
            .read(&(), freshness, || self.fetch_roles(), |r| r.0.clone())
            .await?;
        let mut members = self
            .members
            .read(
                &(),
                freshness,
                || self.fetch_members(),
                |m| m.0.values().cloned().collect::<Vec<_>>(),
            )
            .await?;
        members.sort_by_key(|m| m.id);
        tracing::info!(
            provider = PROVIDER,
            scope = "organization",
            members = members.len(),
            "listed"
        );
        let Ok(user_ids) = members
            .iter()
            .map(|m| i64::try_from(m.id))
            .collect::<Result<Vec<_>, _>>()
        else {
            return Err(ProviderError::Malformed(
                "a member id is beyond what a RoleAssignment can name".into(),
            ));
        };
        let roles = &Roles(roles);
        Ok(members
            .iter()
            .zip(user_ids)
            .flat_map(|(member, user_id)| {
                member
                    .rbac_roles
                    .iter()
                    .filter_map(move |held| roles.spec_of(held, user_id))
                    .collect::<Vec<_>>()
            })
            .map(|spec| Listed {
                spec,
                external_id: None,
            })
            .collect())
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

    /// The role rolesync granted for an earlier spec, as recorded in `granted`, unless it
    /// is the wanted one. A role deleted since is known by its id alone.
    async fn earlier(
        &self,
        granted: Option<Granted>,
        wanted: &RemoteRole,
        freshness: Freshness,
    ) -> Result<Option<RoleKey>, ProviderError> {
        let Some(id) = granted.and_then(|g| g.role).filter(|r| r.0 != wanted.id) else {
            return Ok(None);
        };
        match self.resolve(&RoleRef::Id(id), freshness).await {
            Ok(role) => Ok(Some(RoleKey::of(&role))),
            Err(ProviderError::NotFound { .. }) => Ok(Some(RoleKey {
                id: id.0,
                name: None,
            })),
            Err(e) => Err(e),
        }
    }

    /// What `member` holds against what is wanted; `known` is what status records.
    fn observed(
        &self,
        member: &Member,
        wanted: &RemoteRole,
        earlier: Option<&RoleKey>,
        known: Option<Granted>,
    ) -> Observed {
        let user = UserId(member.id);
        let want = RoleKey::of(wanted);
        let up_to_date = member.holds(&want) && !earlier.is_some_and(|e| member.holds(e));
        let external_id = if up_to_date {
            Granted {
                user,
                role: Some(RoleId(wanted.id)),
            }
        } else {
            // Still to change: the update needs the grant status records.
            known.unwrap_or(Granted { user, role: None })
        };
        let described = self.describe(member.rbac_roles.iter());
        let (role_name, role_id) = if member.holds(&want) {
            (Some(wanted.name.clone()), Some(wanted.id))
        } else {
            described
                .first()
                .map_or((None, None), |(name, id)| (Some(name.clone()), *id))
        };
        let names: Vec<&String> = described.iter().map(|(name, _)| name).collect();
        // The roles held as one field: a member holds several, and an earlier grant still
        // held beside the wanted one differs as much as another role instead of it.
        let differences = if up_to_date {
            Vec::new()
        } else {
            let held = names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let held = if held.is_empty() {
                "none".to_owned()
            } else {
                held
            };
            vec![Difference::new("role", held, &wanted.name)]
        };
        Observed {
            external_id: external_id.external_id(),
            at_provider: serde_json::json!({
                "userId": user.0,
                "email": member.email,
                "username": member.username,
                "roleName": role_name,
                "roleId": role_id,
                "rbacRoles": names,
            }),
            differences,
            role_name: member.holds(&want).then(|| wanted.name.clone()),
        }
    }

    /// One PUT of `wanted`. `before` is what the decision to assign rested on: where the
    /// member held nothing else, they now hold just `wanted` whether assigning replaces or
    /// adds; otherwise which of the two happened is read back.
    async fn assign(
        &self,
        user: UserId,
        wanted: &RemoteRole,
        before: Option<Member>,
    ) -> Result<Member, ProviderError> {
        let path = format!("/auth/users/{user}/assign-roles");
        let request = ApiRequest::new("assign", Method::PUT, path)
            .json(&AssignBody { role_id: wanted.id })?;
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
        let key = RoleKey::of(&assigned);
        self.roles.apply(&(), Change::Upsert(assigned));
        let before = before.unwrap_or_else(|| Member::bare(user, Vec::new()));
        if before.rbac_roles.iter().all(|h| h.is(&key)) {
            let member = Member {
                rbac_roles: vec![Held::Id(key.id)],
                ..before
            };
            self.members.apply(&(), Change::Upsert(member.clone()));
            return Ok(member);
        }
        Ok(self
            .member(user, FRESH)
            .await?
            .unwrap_or_else(|| Member::bare(user, vec![Held::Id(key.id)])))
    }

    /// `DELETE /auth/users/{id}/roles`: every role of the member goes.
    async fn remove_all(&self, member: Member) -> Result<Deletion, ProviderError> {
        let request = ApiRequest::new(
            "remove",
            Method::DELETE,
            format!("/auth/users/{}/roles", member.id),
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

    /// Names (and ids where known) of held roles, from the cached role list.
    fn describe<'h>(&self, held: impl Iterator<Item = &'h Held>) -> Vec<(String, Option<u64>)> {
        let held: Vec<&Held> = held.collect();
        let each = |roles: &Roles| held.iter().map(|h| roles.describe(h)).collect();
        self.roles
            .peek(&(), |roles| each(roles))
            .unwrap_or_else(|| each(&Roles::default()))
    }

    /// The names of `member`'s roles that are none of `ours`.
    fn others(&self, member: &Member, ours: &[RoleKey]) -> Vec<String> {
        let foreign = member
            .rbac_roles
            .iter()
            .filter(|h| !ours.iter().any(|o| h.is(o)));
        self.describe(foreign)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
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
        let known = known.map(|id| Granted::parse(id, want)).transpose()?;
        let wanted = self.resolve(&want.role, freshness).await?;
        let Some(member) = self.member(want.user, freshness).await? else {
            return Ok(None);
        };
        if member.rbac_roles.is_empty() {
            return Ok(None);
        }
        let earlier = self.earlier(known, &wanted, freshness).await?;
        Ok(Some(self.observed(
            &member,
            &wanted,
            earlier.as_ref(),
            known,
        )))
    }

    async fn create(&self, want: &Assignment) -> Result<Observed, ProviderError> {
        let wanted = self.resolve(&want.role, ROLE_LIST_MAX_AGE).await?;
        let before = self
            .members
            .peek(&(), |m| m.0.get(&want.user.0).cloned())
            .flatten();
        let member = self.assign(want.user, &wanted, before).await?;
        Ok(self.observed(&member, &wanted, None, None))
    }

    /// Assigns the wanted role (unless the member holds it already). Where assigning adds
    /// and the member still holds the role rolesync granted for an earlier spec, that one
    /// must go too, and removing takes them all: so all are removed and the wanted role
    /// assigned again (the member holds no role in between), unless the member also holds
    /// a role rolesync did not grant, in which case the earlier role is left in place.
    async fn update(
        &self,
        have: &ExternalId,
        want: &Assignment,
    ) -> Result<Observed, ProviderError> {
        let granted = Granted::parse(have, want)?;
        let wanted = self.resolve(&want.role, ROLE_LIST_MAX_AGE).await?;
        let earlier = self
            .earlier(Some(granted), &wanted, ROLE_LIST_MAX_AGE)
            .await?;
        // Fresh: what is removed below must not rest on a cached list.
        let before = self.member(want.user, FRESH).await?;
        let want_key = RoleKey::of(&wanted);
        let member = match before {
            Some(m) if m.holds(&want_key) => m,
            before => self.assign(want.user, &wanted, before).await?,
        };
        let Some(earlier) = earlier.filter(|e| member.holds(e)) else {
            return Ok(self.observed(&member, &wanted, None, None));
        };
        let others = self.others(&member, &[earlier.clone(), want_key]);
        if !others.is_empty() {
            return Err(ProviderError::LeftInPlace(format!(
                "user {} holds {} now, but still holds {}, which rolesync granted for an earlier spec: Hyperstack removes all of a member's roles at once, and the member also holds {}, which rolesync did not grant",
                want.user,
                wanted.name,
                earlier.label(),
                listing(&others)
            )));
        }
        self.remove_all(member.clone()).await?;
        let cleared = Member {
            rbac_roles: Vec::new(),
            ..member
        };
        let member = self.assign(want.user, &wanted, Some(cleared)).await?;
        Ok(self.observed(&member, &wanted, None, None))
    }

    /// Removes the member's roles only while every one of them is one rolesync granted
    /// (the spec's, or the one status records): removing takes them all, so a member who
    /// holds another role keeps everything and that is reported. (Hyperstack has no
    /// conditional delete; a change in the instant between the read and the DELETE cannot
    /// be caught.)
    async fn delete(
        &self,
        have: &ExternalId,
        want: &Assignment,
    ) -> Result<Deletion, ProviderError> {
        let granted = Granted::parse(have, want)?;
        let Some(member) = self.member(granted.user, FRESH).await? else {
            return Ok(Deletion::AlreadyGone);
        };
        if member.rbac_roles.is_empty() {
            return Ok(Deletion::AlreadyGone);
        }
        let mut ours = Vec::new();
        match self.resolve(&want.role, ROLE_LIST_MAX_AGE).await {
            Ok(role) => ours.push(RoleKey::of(&role)),
            // The spec's role no longer exists, so the member cannot hold it.
            Err(ProviderError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        if let Some(id) = granted.role {
            match self.resolve(&RoleRef::Id(id), ROLE_LIST_MAX_AGE).await {
                Ok(role) => ours.push(RoleKey::of(&role)),
                Err(ProviderError::NotFound { .. }) => ours.push(RoleKey {
                    id: id.0,
                    name: None,
                }),
                Err(e) => return Err(e),
            }
        }
        let others = self.others(&member, &ours);
        if others.len() == member.rbac_roles.len() {
            return Ok(Deletion::LeftAlone(format!(
                "user {} now holds role {}",
                granted.user,
                listing(&others)
            )));
        }
        if !others.is_empty() {
            return Ok(Deletion::LeftAlone(format!(
                "user {} also holds {}, which rolesync did not grant, and Hyperstack removes all of a member's roles at once",
                granted.user,
                listing(&others)
            )));
        }
        self.remove_all(member).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, roles: Value) -> Member {
        serde_json::from_value(serde_json::json!({
            "id": id, "email": format!("u{id}@example.com"), "role": "Member", "rbac_roles": roles,
        }))
        .unwrap()
    }

    fn role(id: u64, name: &str) -> RemoteRole {
        RemoteRole {
            id,
            name: name.to_owned(),
        }
    }

    fn client() -> HyperstackClient {
        HyperstackClient::new(
            "http://127.0.0.1:1",
            SecretString::from("k"),
            HttpSettings::default(),
        )
        .unwrap()
    }

    fn granted(user: u64, role: Option<u64>) -> Option<Granted> {
        Some(Granted {
            user: UserId(user),
            role: role.map(RoleId),
        })
    }

    /// The SDK's `{name}` objects, the older docs' integer ids, null, and what neither
    /// describes (kept, as a role rolesync cannot call its own).
    #[test]
    fn role_lists_may_be_objects_ids_null_or_odd() {
        let dev = RoleKey::of(&role(2, "developer"));
        assert!(member(7, serde_json::json!([{"name": "developer"}])).holds(&dev));
        assert!(member(7, serde_json::json!([2])).holds(&dev));
        assert!(member(7, serde_json::json!([{"id": 2}])).holds(&dev));
        assert!(member(7, Value::Null).rbac_roles.is_empty());
        let odd = member(7, serde_json::json!([true]));
        assert_eq!(odd.rbac_roles, [Held::Unknown("true".into())]);
        assert!(!odd.holds(&dev));
        let absent: Member = serde_json::from_value(serde_json::json!({"id": 7})).unwrap();
        assert!(absent.rbac_roles.is_empty());
    }

    #[test]
    fn holding_the_wanted_role_is_up_to_date_whatever_else_is_held() {
        let hs = client();
        let dev = role(2, "developer");
        let one = hs.observed(
            &member(7, serde_json::json!(["developer"])),
            &dev,
            None,
            None,
        );
        assert!(one.up_to_date());
        assert_eq!(one.external_id.as_str(), "7/role=2");
        assert_eq!(one.at_provider["roleId"], 2);
        assert_eq!(one.at_provider["roleName"], "developer");
        let more = member(
            7,
            serde_json::json!([{"name": "admin"}, {"name": "developer"}]),
        );
        let seen = hs.observed(&more, &dev, None, None);
        assert!(seen.up_to_date());
        assert_eq!(
            seen.at_provider["rbacRoles"],
            serde_json::json!(["admin", "developer"])
        );
        let other = hs.observed(
            &member(7, serde_json::json!([1])),
            &dev,
            None,
            granted(7, Some(1)),
        );
        assert!(!other.up_to_date());
        assert_eq!(
            other.external_id.as_str(),
            "7/role=1",
            "the update needs the earlier grant"
        );
    }

    #[test]
    fn an_earlier_grant_still_held_is_not_up_to_date() {
        let hs = client();
        let dev = role(2, "developer");
        let admin = RoleKey::of(&role(1, "admin"));
        let both = member(
            7,
            serde_json::json!([{"name": "admin"}, {"name": "developer"}]),
        );
        let seen = hs.observed(&both, &dev, Some(&admin), granted(7, Some(1)));
        assert!(!seen.up_to_date());
        assert_eq!(seen.external_id.as_str(), "7/role=1");
        let gone = member(7, serde_json::json!([{"name": "developer"}]));
        assert!(
            hs.observed(&gone, &dev, Some(&admin), granted(7, Some(1)))
                .up_to_date()
        );
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
        assert_eq!(roles.describe(&Held::Id(1)), ("admin".into(), Some(1)));
        assert_eq!(roles.describe(&Held::Id(9)), ("9".into(), Some(9)));
    }

    #[test]
    fn external_ids_name_the_user_and_the_role_granted() {
        let want = Assignment {
            user: UserId(7),
            role: RoleRef::Id(RoleId(1)),
        };
        let parse = |id: &str| Granted::parse(&ExternalId::new(id), &want);
        assert_eq!(parse("7").unwrap(), granted(7, None).unwrap());
        assert_eq!(parse("7/role=3").unwrap(), granted(7, Some(3)).unwrap());
        assert_eq!(
            granted(7, Some(3)).unwrap().external_id().as_str(),
            "7/role=3"
        );
        assert_eq!(granted(7, None).unwrap().external_id().as_str(), "7");
        for bad in ["8", "x", "8/role=3", "7/role=x", "7/role="] {
            assert!(parse(bad).is_err(), "{bad}");
        }
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
    fn listings_read_as_prose() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(listing(&names(&["a"])), "a");
        assert_eq!(listing(&names(&["a", "b", "c"])), "a, b and c");
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

    /// A held role is written by its name where the role list makes that unambiguous, by
    /// id otherwise, and left out where it cannot be identified at all.
    #[test]
    fn held_roles_become_specs() {
        let roles = Roles(
            [role(3, "developer"), role(4, "viewer"), role(5, "viewer")]
                .into_iter()
                .map(|r| (r.id, r))
                .collect(),
        );
        let spec = |held: Held| roles.spec_of(&held, 201).map(|s| (s.role_id, s.role_name));
        assert_eq!(
            spec(Held::Name("developer".into())),
            Some((None, Some("developer".into())))
        );
        assert_eq!(spec(Held::Id(3)), Some((None, Some("developer".into()))));
        assert_eq!(spec(Held::Id(4)), Some((Some(4), None)));
        assert_eq!(spec(Held::Id(9)), Some((Some(9), None)));
        assert_eq!(spec(Held::Name("viewer".into())), None);
        assert_eq!(spec(Held::Unknown("{}".into())), None);
        assert_eq!(
            roles.spec_of(&Held::Id(3), 201).map(|s| s.user_id),
            Some(201)
        );
    }
}
