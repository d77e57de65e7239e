//! ZenML Pro role assignments (`/roles/{role_id}/assignments`).
//!
//! Assignments have no id of their own: the full natural key (role, user or team,
//! workspace, project) is the identity, recorded as a readable composite such as
//! `role=<uuid>/user=<uuid>/workspace=<uuid>`. ZenML cannot change an assignment, so a new
//! role is a replacement. The organization's API key is exchanged for a short-lived bearer
//! token, which is cached per client and renewed before it expires and after a 401.
//!
//! The API reference lists items without `role` (the path names it) and lists pending
//! invitations (no user, no team), which rolesync never manages. What it leaves open — the
//! answer to assigning what exists (409, 400/422, or a second row stored) and to revoking
//! what is gone (404 or 200) — is handled whichever it is: see [`ZenmlClient`]'s `create`
//! and `delete`.

mod connector;
mod workspace_server;

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use super::cache::{Change, Collection, ListCache};
use super::http::{ApiRequest, ApiResponse, AuthHeader, HttpClient, HttpSettings, RateLimit};
use super::{
    Deletion, Difference, ExternalId, Freshness, Listed, Observed, Provider, ProviderError, or_none,
};
use crate::api::ZenmlAssignmentSpec;

pub const DEFAULT_ENDPOINT: &str = "https://cloudapi.zenml.io";
const PROVIDER: &str = "zenml";
const LOGIN: &str = "/auth/login";
/// Assumed when the token answer does not say how long the token lives.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// A token is renewed this long before it expires (or after 4/5 of a shorter lifetime).
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// A paged list longer than this means the server's page count cannot be trusted.
const MAX_PAGES: u64 = 10_000;

/// ZenML Pro publishes no rate limit; 300/min with a burst of 30 keeps a resync of a
/// few hundred (role, scope) lists quick without hammering a shared organization.
pub fn default_rate_limit() -> RateLimit {
    RateLimit {
        requests_per_minute: NonZeroU32::new(300).unwrap_or(NonZeroU32::MIN),
        burst: NonZeroU32::new(30).unwrap_or(NonZeroU32::MIN),
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// A role of the organization (built-in or custom).
    RoleId
);
uuid_id!(
    /// A member of the organization.
    UserId
);
uuid_id!(
    /// A team of the organization.
    TeamId
);
uuid_id!(
    /// A workspace (ZenML server) of the organization.
    WorkspaceId
);
uuid_id!(
    /// A project inside a workspace.
    ProjectId
);

/// Who holds the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    User(UserId),
    Team(TeamId),
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(u) => write!(f, "user={u}"),
            Self::Team(t) => write!(f, "team={t}"),
        }
    }
}

/// Where the role applies: the whole organization, one workspace, or one project of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Organization,
    Workspace(WorkspaceId),
    Project(WorkspaceId, ProjectId),
}

impl Scope {
    fn workspace(self) -> Option<WorkspaceId> {
        match self {
            Self::Organization => None,
            Self::Workspace(w) | Self::Project(w, _) => Some(w),
        }
    }

    fn project(self) -> Option<ProjectId> {
        match self {
            Self::Project(_, p) => Some(p),
            _ => None,
        }
    }

    /// `project` needs `workspace`: a project always lives in one.
    pub fn of(
        workspace: Option<WorkspaceId>,
        project: Option<ProjectId>,
    ) -> Result<Self, &'static str> {
        match (workspace, project) {
            (None, None) => Ok(Self::Organization),
            (Some(w), None) => Ok(Self::Workspace(w)),
            (Some(w), Some(p)) => Ok(Self::Project(w, p)),
            (None, Some(_)) => Err("a project assignment needs its workspace"),
        }
    }
}

/// One role granted to one principal in one scope. It is also the assignment's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Assignment {
    pub role: RoleId,
    pub principal: Principal,
    pub scope: Scope,
}

impl Assignment {
    pub fn external_id(&self) -> ExternalId {
        ExternalId::new(self.to_string())
    }

    /// Reads back what [`Assignment::external_id`] wrote.
    pub fn from_external_id(id: &ExternalId) -> Result<Self, ExternalIdError> {
        id.as_str().parse()
    }

    fn list_scope(&self) -> ListScope {
        (self.role, self.scope)
    }
}

impl Assignment {
    /// How this (remote) assignment differs from `want`, field by field.
    fn differences(&self, want: &Assignment) -> Vec<Difference> {
        [
            Difference::of("role", self.role, want.role),
            Difference::of("principal", self.principal, want.principal),
            Difference::of(
                "workspace",
                or_none(self.scope.workspace()),
                or_none(want.scope.workspace()),
            ),
            Difference::of(
                "project",
                or_none(self.scope.project()),
                or_none(want.scope.project()),
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// `role=<uuid>/user=<uuid>[/workspace=<uuid>[/project=<uuid>]]` (`team=` for teams).
impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "role={}/{}", self.role, self.principal)?;
        if let Some(w) = self.scope.workspace() {
            write!(f, "/workspace={w}")?;
        }
        if let Some(p) = self.scope.project() {
            write!(f, "/project={p}")?;
        }
        Ok(())
    }
}

/// An external id that is not a ZenML assignment key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "external id {id:?} is not a ZenML assignment (expected role=<uuid>/user=<uuid>|team=<uuid>[/workspace=<uuid>[/project=<uuid>]]): {problem}"
)]
pub struct ExternalIdError {
    id: String,
    problem: String,
}

impl FromStr for Assignment {
    type Err = ExternalIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |problem: String| ExternalIdError {
            id: s.to_owned(),
            problem,
        };
        let mut parts = s.split('/').map(|part| {
            part.split_once('=')
                .ok_or_else(|| fail(format!("{part:?} is not name=value")))
        });
        let mut next = |wanted: &[&str]| -> Result<Option<(String, Uuid)>, ExternalIdError> {
            let Some(part) = parts.next() else {
                return Ok(None);
            };
            let (name, value) = part?;
            if !wanted.contains(&name) {
                return Err(fail(format!(
                    "found {name:?} where {} was expected",
                    wanted.join(" or ")
                )));
            }
            let uuid = Uuid::try_parse(value)
                .map_err(|e| fail(format!("{name} {value:?} is not a UUID: {e}")))?;
            Ok(Some((name.to_owned(), uuid)))
        };
        let (_, role) = next(&["role"])?.ok_or_else(|| fail("it is empty".into()))?;
        let principal = match next(&["user", "team"])? {
            Some((name, id)) if name == "user" => Principal::User(UserId(id)),
            Some((_, id)) => Principal::Team(TeamId(id)),
            None => return Err(fail("it names no user or team".into())),
        };
        let workspace = next(&["workspace"])?.map(|(_, id)| WorkspaceId(id));
        let project = next(&["project"])?.map(|(_, id)| ProjectId(id));
        if let Some(extra) = next(&[])? {
            return Err(fail(format!("unexpected {:?} at the end", extra.0)));
        }
        Ok(Self {
            role: RoleId(role),
            principal,
            scope: Scope::of(workspace, project).map_err(|e| fail(e.to_owned()))?,
        })
    }
}

impl Assignment {
    /// The RoleAssignment block asking for exactly this assignment.
    fn spec(&self) -> ZenmlAssignmentSpec {
        let (user_id, team_id) = match self.principal {
            Principal::User(u) => (Some(u.to_string()), None),
            Principal::Team(t) => (None, Some(t.to_string())),
        };
        ZenmlAssignmentSpec {
            role_id: self.role.to_string(),
            user_id,
            team_id,
            workspace_id: self.scope.workspace().map(|w| w.to_string()),
            project_id: self.scope.project().map(|p| p.to_string()),
        }
    }
}

const ORGANIZATIONS: &str = "/organizations";
const WORKSPACES: &str = "/workspaces";
/// The largest page of workspaces the Pro API serves.
const WORKSPACE_PAGE: u64 = 100;

/// The `id` of a listed organization, role or workspace.
fn item_id<T: FromStr>(item: &Value, what: &str) -> Result<T, ProviderError> {
    item.get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ProviderError::Malformed(format!("a listed {what} has no UUID id")))
}

fn parse_id(id: &ExternalId) -> Result<Assignment, ProviderError> {
    Assignment::from_external_id(id).map_err(|e| ProviderError::Rejected {
        status: 400,
        message: e.to_string(),
    })
}

/// One list request answers one role in one scope.
type ListScope = (RoleId, Scope);

/// A named reference inside a listed assignment (`{"id": ..., "name": ...}`).
#[derive(Deserialize)]
struct Ref<T> {
    id: T,
    #[serde(default)]
    name: Option<String>,
}

/// An assignment as ZenML lists it; unknown fields are ignored. The API reference's items
/// have no `role` (the list is the path's role); an older form had one.
#[derive(Deserialize)]
struct RemoteItem {
    #[serde(default)]
    user: Option<Ref<UserId>>,
    #[serde(default)]
    team: Option<Ref<TeamId>>,
    /// Set on a pending invitation's assignment, which names no user or team.
    #[serde(default)]
    invitation: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    role: Option<Ref<RoleId>>,
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    workspace_id: Option<WorkspaceId>,
    #[serde(default)]
    project_id: Option<ProjectId>,
}

/// A listed assignment: its identity and what `status.atProvider` shows of it.
#[derive(Clone, Debug, PartialEq)]
struct Remote {
    assignment: Assignment,
    at_provider: Value,
    /// The role's name, where the item carried its role.
    role_name: Option<String>,
}

impl Remote {
    /// An item of the list of `role`'s assignments; `None` for a pending invitation's.
    fn parse(item: Value, role: RoleId) -> Result<Option<Self>, ProviderError> {
        let item: RemoteItem = serde_json::from_value(item)
            .map_err(|e| ProviderError::Malformed(format!("role assignment: {e}")))?;
        let principal = match (&item.user, &item.team) {
            (Some(u), None) => Principal::User(u.id),
            (None, Some(t)) => Principal::Team(t.id),
            (None, None) if item.invitation.is_some() => return Ok(None),
            _ => {
                return Err(ProviderError::Malformed(
                    "role assignment names neither or both of user and team".into(),
                ));
            }
        };
        let scope = Scope::of(item.workspace_id, item.project_id)
            .map_err(|e| ProviderError::Malformed(format!("role assignment: {e}")))?;
        let (role, role_name) = match item.role {
            Some(r) => (r.id, r.name),
            None => (role, None),
        };
        let named = |id: String, name: Option<String>| json!({"id": id, "name": name});
        let at_provider = json!({
            "role": named(role.to_string(), role_name.clone()),
            "user": item.user.map(|u| named(u.id.to_string(), u.name)),
            "team": item.team.map(|t| named(t.id.to_string(), t.name)),
            "organizationId": item.organization_id,
            "workspaceId": item.workspace_id.map(|w| w.to_string()),
            "projectId": item.project_id.map(|p| p.to_string()),
        });
        Ok(Some(Self {
            assignment: Assignment {
                role,
                principal,
                scope,
            },
            at_provider,
            role_name,
        }))
    }

    /// What we know of an assignment we just made when ZenML's answer did not describe it.
    fn of(assignment: Assignment) -> Self {
        let (user, team) = match assignment.principal {
            Principal::User(u) => (Some(u.to_string()), None),
            Principal::Team(t) => (None, Some(t.to_string())),
        };
        Self {
            assignment,
            at_provider: json!({
                "role": {"id": assignment.role.to_string()},
                "user": user.map(|id| json!({"id": id})),
                "team": team.map(|id| json!({"id": id})),
                "workspaceId": assignment.scope.workspace().map(|w| w.to_string()),
                "projectId": assignment.scope.project().map(|p| p.to_string()),
            }),
            role_name: None,
        }
    }

    fn observed(&self, want: &Assignment, role_name: Option<String>) -> Observed {
        Observed {
            external_id: self.assignment.external_id(),
            at_provider: self.at_provider.clone(),
            differences: self.assignment.differences(want),
            role_name: self.role_name.clone().or(role_name),
        }
    }
}

/// The assignments of one role in one scope.
#[derive(Default)]
struct Index(HashMap<Assignment, Remote>);

impl Collection for Index {
    type Item = Remote;
    type Key = Assignment;

    fn upsert(&mut self, item: Remote) {
        self.0.insert(item.assignment, item);
    }

    fn remove(&mut self, key: &Assignment) {
        self.0.remove(key);
    }
}

/// One page of a list: ZenML may answer with a plain array or a page object.
struct ListPage {
    items: Vec<Value>,
    /// The next page's number, when the answer was a page object with more pages.
    next: Option<u64>,
}

fn parse_list(body: Value) -> Result<ListPage, ProviderError> {
    match body {
        Value::Array(items) => Ok(ListPage { items, next: None }),
        Value::Object(mut page) => {
            let Some(Value::Array(items)) = page.remove("items") else {
                return Err(ProviderError::Malformed(
                    "assignment list is an object without an `items` array".into(),
                ));
            };
            let number = |field: &str| page.get(field).and_then(Value::as_u64);
            let next = match (number("index"), number("total_pages")) {
                (Some(index), Some(total)) if index < total => Some(index + 1),
                _ => None,
            };
            Ok(ListPage { items, next })
        }
        _ => Err(ProviderError::Malformed(
            "assignment list is neither an array nor a page object".into(),
        )),
    }
}

/// Reads FastAPI's `{"detail": ...}` into one line: a string, ZenML's
/// `[exception class, args...]`, or a list of validation errors.
fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        detail: Value,
    }
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    Some(match parsed.detail {
        Value::String(s) => s,
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let mut texts = items.iter().filter_map(Value::as_str);
            let class = texts.next().unwrap_or_default();
            let args: Vec<&str> = texts.collect();
            if args.is_empty() {
                class.to_owned()
            } else {
                format!("{class}: {}", args.join(": "))
            }
        }
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let loc = item
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let msg = item.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                if loc.is_empty() {
                    msg.to_owned()
                } else {
                    format!("{loc}: {msg}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    })
}

/// ZenML answers a refused operation ("the last role of a member", "the owner's admin
/// role") with 403 IllegalOperationError: that is a rule, not rejected credentials.
fn refine(e: ProviderError) -> ProviderError {
    match e {
        ProviderError::Unauthorized {
            status: 403,
            message,
        } if message.starts_with("IllegalOperationError") => ProviderError::Rejected {
            status: 403,
            message,
        },
        other => other,
    }
}

/// Removes `secret` from every text an error carries.
fn redact(e: ProviderError, secret: &str) -> ProviderError {
    let clean = |m: String| m.replace(secret, "[redacted]");
    match e {
        ProviderError::Unauthorized { status, message } => ProviderError::Unauthorized {
            status,
            message: clean(message),
        },
        ProviderError::NotFound { status, message } => ProviderError::NotFound {
            status,
            message: clean(message),
        },
        ProviderError::Rejected { status, message } => ProviderError::Rejected {
            status,
            message: clean(message),
        },
        ProviderError::Conflict { status, message } => ProviderError::Conflict {
            status,
            message: clean(message),
        },
        ProviderError::Server { status, message } => ProviderError::Server {
            status,
            message: clean(message),
        },
        ProviderError::Transport(m) => ProviderError::Transport(clean(m)),
        ProviderError::Malformed(m) => ProviderError::Malformed(clean(m)),
        ProviderError::Config(m) => ProviderError::Config(clean(m)),
        ProviderError::LeftInPlace(m) => ProviderError::LeftInPlace(clean(m)),
        other @ (ProviderError::RateLimited { .. } | ProviderError::Timeout) => other,
    }
}

/// When a token of this lifetime should be renewed, counted from when it was asked for.
fn renew_after(lifetime: Duration) -> Duration {
    lifetime - (lifetime / 5).min(MAX_REFRESH_MARGIN)
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
struct Token {
    header: AuthHeader,
    renew_at: Instant,
    /// Tells a token that was refused apart from one obtained since.
    generation: u64,
}

/// The API key and the token it was last exchanged for at one server's login.
struct Tokens {
    api_key: SecretString,
    login_path: &'static str,
    current: tokio::sync::Mutex<(Option<Token>, u64)>,
}

#[derive(Deserialize)]
struct LoginAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Tokens {
    fn new(api_key: SecretString, login_path: &'static str) -> Self {
        Self {
            api_key,
            login_path,
            current: tokio::sync::Mutex::new((None, 0)),
        }
    }

    /// A token that is not about to expire; logs in first when there is none.
    async fn get(&self, http: &HttpClient) -> Result<Token, ProviderError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.0.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.clone());
        }
        self.login(http, &mut current).await
    }

    /// A token other than `refused`; concurrent callers share one login.
    async fn renew(&self, http: &HttpClient, refused: u64) -> Result<Token, ProviderError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.0.as_ref().filter(|t| t.generation != refused) {
            return Ok(token.clone());
        }
        self.login(http, &mut current).await
    }

    async fn login(
        &self,
        http: &HttpClient,
        current: &mut (Option<Token>, u64),
    ) -> Result<Token, ProviderError> {
        current.0 = None;
        let key = self.api_key.expose_secret();
        let asked = Instant::now();
        let request =
            ApiRequest::new("login", Method::POST, self.login_path).form(&[("password", key)]);
        let answer: LoginAnswer = http
            .send(request)
            .await
            .and_then(|r| r.json())
            .map_err(|e| redact(e, key))?;
        if let Some(kind) = answer.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(ProviderError::Malformed(format!(
                "login answered with a {kind:?} token instead of a bearer token"
            )));
        }
        let header = AuthHeader::new(
            AUTHORIZATION,
            "Bearer ",
            &SecretString::from(answer.access_token),
        )
        .map_err(|_| ProviderError::Malformed("login answered with an unusable token".into()))?;
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        current.1 += 1;
        let token = Token {
            header,
            renew_at: asked + renew_after(lifetime),
            generation: current.1,
        };
        tracing::debug!(
            provider = PROVIDER,
            lifetime_secs = lifetime.as_secs(),
            "obtained an API token"
        );
        current.0 = Some(token.clone());
        Ok(token)
    }
}

/// One server reached with the API key: its connection and the token the key was
/// exchanged for there.
struct Session {
    http: HttpClient,
    tokens: Tokens,
}

impl Session {
    /// Sends an authenticated request; a 401 gets one retry with a new token.
    async fn send(&self, request: impl Fn() -> ApiRequest) -> Result<ApiResponse, ProviderError> {
        let token = self.tokens.get(&self.http).await?;
        let result = match self.http.send(request().auth(token.header.clone())).await {
            Err(ProviderError::Unauthorized { status: 401, .. }) => {
                let token = self.tokens.renew(&self.http, token.generation).await?;
                self.http.send(request().auth(token.header)).await
            }
            other => other,
        };
        result.map_err(refine)
    }

    /// Hands `each` every item of a list the server answers as a plain array or a page
    /// object, following `page` as [`parse_list`] finds more.
    async fn pages(
        &self,
        what: &str,
        request: impl Fn() -> ApiRequest,
        mut each: impl FnMut(Value) -> Result<(), ProviderError>,
    ) -> Result<(), ProviderError> {
        let mut page = None;
        for _ in 0..MAX_PAGES {
            let body: Value = self
                .send(|| match page {
                    Some(n) => request().query("page", n),
                    None => request(),
                })
                .await?
                .json()?;
            let listed = parse_list(body)?;
            for item in listed.items {
                each(item)?;
            }
            match listed.next {
                Some(next) => page = Some(next),
                None => return Ok(()),
            }
        }
        Err(ProviderError::Malformed(format!(
            "the {what} list did not end after {MAX_PAGES} pages"
        )))
    }

    /// The `id`s of every item of the list at `path`.
    async fn ids<T: FromStr>(&self, path: &str, what: &str) -> Result<Vec<T>, ProviderError> {
        let mut ids = Vec::new();
        self.pages(
            what,
            || ApiRequest::get("list", path),
            |item| {
                ids.push(item_id(&item, what)?);
                Ok(())
            },
        )
        .await?;
        Ok(ids)
    }
}

/// A workspace of the organization and, while its server runs, that server's URL.
struct Workspace {
    id: WorkspaceId,
    server_url: Option<String>,
}

impl Workspace {
    /// `{id, zenml_service: {status: {server_url}}}`, as the `zenml` package's
    /// `WorkspaceRead` reads it: `status` is set only while the server is deployed.
    fn parse(item: &Value) -> Result<Self, ProviderError> {
        Ok(Self {
            id: item_id(item, "workspace")?,
            server_url: item
                .pointer("/zenml_service/status/server_url")
                .and_then(Value::as_str)
                .filter(|url| !url.is_empty())
                .map(str::to_owned),
        })
    }
}

/// The ZenML Pro provider for one ProviderConfig: endpoint, API key, token and list cache.
pub struct ZenmlClient {
    api: Session,
    /// The workspaces' own servers, asked for their projects by the inventory.
    servers: workspace_server::WorkspaceServers,
    cache: ListCache<ListScope, Index, ProviderError>,
    /// Role names by id, read once per role: roles are few and renamed rarely.
    role_names: std::sync::Mutex<HashMap<RoleId, Option<String>>>,
}

impl fmt::Debug for ZenmlClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZenmlClient")
            .field("http", &self.api.http)
            .field("api_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

fn assignments_path(role: RoleId) -> String {
    format!("/roles/{role}/assignments")
}

fn with_scope(mut request: ApiRequest, scope: Scope) -> ApiRequest {
    if let Some(w) = scope.workspace() {
        request = request.query("workspace_id", w);
    }
    if let Some(p) = scope.project() {
        request = request.query("project_id", p);
    }
    request
}

/// An assign or revoke: everything goes in the query, there is no body.
fn write_request(operation: &'static str, method: Method, a: &Assignment) -> ApiRequest {
    let request = ApiRequest::new(operation, method, assignments_path(a.role));
    let request = match a.principal {
        Principal::User(u) => request.query("user_id", u),
        Principal::Team(t) => request.query("team_id", t),
    };
    with_scope(request, a.scope)
}

/// Whether ZenML may have refused an assign this way because the assignment exists: its
/// answer to that is undocumented (409 EntityExistsError is likely, 400 or 422 possible).
fn may_be_existing(e: &ProviderError) -> bool {
    matches!(
        e,
        ProviderError::Conflict { .. }
            | ProviderError::Rejected {
                status: 400 | 422,
                ..
            }
    )
}

/// Data read now, not from a cached list.
const FRESH: Freshness = Freshness {
    max_age: Duration::ZERO,
};

/// Whether a write that failed this way may still have happened.
fn may_have_happened(e: &ProviderError) -> bool {
    matches!(
        e,
        ProviderError::Timeout
            | ProviderError::Transport(_)
            | ProviderError::Server { .. }
            | ProviderError::Malformed(_)
    )
}

impl ZenmlClient {
    pub fn new(
        endpoint: &str,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        if api_key.expose_secret().trim().is_empty() {
            return Err(ProviderError::Config("the API key is empty".into()));
        }
        let api_key = SecretString::from(api_key.expose_secret().trim().to_owned());
        let http =
            HttpClient::new(PROVIDER, endpoint, None, settings)?.with_error_message(error_message);
        Ok(Self {
            api: Session {
                http,
                tokens: Tokens::new(api_key.clone(), LOGIN),
            },
            servers: workspace_server::WorkspaceServers::new(api_key),
            cache: ListCache::new(),
            role_names: std::sync::Mutex::default(),
        })
    }

    async fn send(&self, request: impl Fn() -> ApiRequest) -> Result<ApiResponse, ProviderError> {
        self.api.send(request).await
    }

    async fn fetch(&self, (role, scope): ListScope) -> Result<Index, ProviderError> {
        let mut index = Index::default();
        self.api
            .pages(
                "assignment",
                || with_scope(ApiRequest::get("list", assignments_path(role)), scope),
                |item| {
                    // A server may include wider scopes in a filtered list; only exact keys count.
                    if let Some(remote) = Remote::parse(item, role)?
                        && remote.assignment.list_scope() == (role, scope)
                    {
                        index.upsert(remote);
                    }
                    Ok(())
                },
            )
            .await?;
        Ok(index)
    }

    /// The organization's workspaces: `GET /workspaces?organization_id=` (the Pro API
    /// reference's "List Workspaces Endpoint", formerly `/tenants`), paged by `offset` and
    /// `limit` (at most 100), a plain array per page.
    async fn workspaces(&self, organization: &str) -> Result<Vec<Workspace>, ProviderError> {
        let mut workspaces = Vec::new();
        for page in 0..MAX_PAGES {
            let offset = page * WORKSPACE_PAGE;
            let body: Value = self
                .send(|| {
                    ApiRequest::get("list", WORKSPACES)
                        .query("organization_id", organization)
                        .query("offset", offset)
                        .query("limit", WORKSPACE_PAGE)
                })
                .await?
                .json()?;
            let listed = parse_list(body)?;
            let served = listed.items.len() as u64;
            for item in &listed.items {
                workspaces.push(Workspace::parse(item)?);
            }
            if served < WORKSPACE_PAGE {
                return Ok(workspaces);
            }
        }
        Err(ProviderError::Malformed(format!(
            "the workspace list did not end after {MAX_PAGES} pages"
        )))
    }

    /// Every assignment of every role of the organization at organization scope, in every
    /// workspace and in every project of each, as RoleAssignment blocks, from the
    /// per-(role, scope) lists observations use. The organization is the one the key
    /// belongs to (`GET /organizations`), its roles `GET /organizations/{organization_id}/roles`
    /// (the Pro API reference's "Organizations / Roles"). The Pro API has no list of a
    /// workspace's projects: they are asked of the workspace's own server (see
    /// [`workspace_server`]); a workspace whose server is not running has no project listed.
    pub(super) async fn inventory(
        &self,
        freshness: Freshness,
    ) -> Result<Vec<Listed<ZenmlAssignmentSpec>>, ProviderError> {
        let mut listed = Vec::new();
        for organization in self.api.ids::<Uuid>(ORGANIZATIONS, "organization").await? {
            let roles = self
                .api
                .ids::<RoleId>(&format!("{ORGANIZATIONS}/{organization}/roles"), "role")
                .await?;
            let mut scopes = vec![Scope::Organization];
            for workspace in self.workspaces(&organization.to_string()).await? {
                scopes.push(Scope::Workspace(workspace.id));
                let Some(url) = &workspace.server_url else {
                    tracing::warn!(provider = PROVIDER, workspace = %workspace.id, "the workspace's server is not running: its projects are not listed");
                    continue;
                };
                let projects = self.servers.projects(&self.api.http, url).await?;
                tracing::info!(provider = PROVIDER, workspace = %workspace.id, projects = projects.len(), "listed projects");
                scopes.extend(
                    projects
                        .into_iter()
                        .map(|p| Scope::Project(workspace.id, p)),
                );
            }
            for role in roles {
                for scope in &scopes {
                    let list = (role, *scope);
                    let mut found: Vec<Assignment> = self
                        .cache
                        .read(
                            &list,
                            freshness,
                            || self.fetch(list),
                            |index| index.0.keys().copied().collect(),
                        )
                        .await?;
                    found.sort_by_key(Assignment::to_string);
                    tracing::info!(provider = PROVIDER, role = %role, scope = ?scope, assignments = found.len(), "listed");
                    listed.extend(found.iter().map(|a| Listed {
                        spec: a.spec(),
                        external_id: None,
                    }));
                }
            }
        }
        Ok(listed)
    }

    /// The role's name as `GET /roles/{role_id}` reports it. Only for display: a role the
    /// key may not read, or an answer without a name, shows its id instead; a failure that
    /// may pass is asked again next time.
    async fn role_name(&self, role: RoleId) -> Option<String> {
        if let Some(known) = self.role_names().get(&role) {
            return known.clone();
        }
        #[derive(Deserialize)]
        struct RoleRead {
            #[serde(default)]
            name: Option<String>,
        }
        let answer = self
            .send(|| ApiRequest::get("get role", format!("/roles/{role}")))
            .await
            .and_then(|response| response.json::<RoleRead>());
        let name = match answer {
            Ok(read) => read.name.filter(|n| !n.is_empty()),
            Err(e) if e.is_retryable() => {
                tracing::debug!(%role, error = %e, "role name not read; asked again next time");
                return None;
            }
            Err(e) => {
                tracing::debug!(%role, error = %e, "role name not readable; its id is shown");
                None
            }
        };
        self.role_names().insert(role, name.clone());
        name
    }

    fn role_names(&self) -> std::sync::MutexGuard<'_, HashMap<RoleId, Option<String>>> {
        // A panic while holding this lock left only a name cache behind: keep using it.
        self.role_names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `remote` as observed against `want`, its role named.
    async fn observed(&self, remote: &Remote, want: &Assignment) -> Observed {
        let name = match remote.role_name {
            Some(_) => None,
            None => self.role_name(remote.assignment.role).await,
        };
        remote.observed(want, name)
    }

    async fn find(
        &self,
        a: &Assignment,
        freshness: Freshness,
    ) -> Result<Option<Remote>, ProviderError> {
        let scope = a.list_scope();
        self.cache
            .read(
                &scope,
                freshness,
                || self.fetch(scope),
                |index| index.0.get(a).cloned(),
            )
            .await
    }
}

impl Provider for ZenmlClient {
    type Assignment = Assignment;

    fn updates_in_place(&self) -> bool {
        false
    }

    /// ZenML may store a second, identical row when asked to assign what exists (its
    /// answer is undocumented), so an absence is confirmed with fresh data first.
    fn create_is_idempotent(&self) -> bool {
        false
    }

    async fn observe(
        &self,
        want: &Assignment,
        known: Option<&ExternalId>,
        freshness: Freshness,
    ) -> Result<Option<Observed>, ProviderError> {
        let known = known.map(parse_id).transpose()?;
        if let Some(k) = known {
            // Only the role may differ from the spec: anything else would make rolesync
            // replace (and so revoke) somebody else's grant.
            if k.principal != want.principal || k.scope != want.scope {
                return Err(ProviderError::Rejected {
                    status: 400,
                    message: format!(
                        "external id {k} grants to another principal or scope than the spec ({want}); only the role may differ"
                    ),
                });
            }
            if let Some(remote) = self.find(&k, freshness).await? {
                return Ok(Some(self.observed(&remote, want).await));
            }
        }
        Ok(match self.find(want, freshness).await? {
            Some(remote) => Some(self.observed(&remote, want).await),
            None => None,
        })
    }

    async fn create(&self, want: &Assignment) -> Result<Observed, ProviderError> {
        let scope = want.list_scope();
        match self
            .send(|| write_request("assign", Method::POST, want))
            .await
        {
            Ok(response) => {
                let remote = response
                    .json::<Value>()
                    .ok()
                    .and_then(|body| Remote::parse(body, want.role).ok().flatten())
                    .filter(|r| r.assignment == *want)
                    .unwrap_or_else(|| Remote::of(*want));
                let observed = self.observed(&remote, want).await;
                self.cache.apply(&scope, Change::Upsert(remote));
                Ok(observed)
            }
            // Perhaps refused because someone assigned it meanwhile: adopt what a fresh
            // list shows, else the refusal stands.
            Err(e) if may_be_existing(&e) => {
                self.cache.invalidate(&scope);
                match self.find(want, FRESH).await? {
                    Some(remote) => Ok(self.observed(&remote, want).await),
                    None => Err(e),
                }
            }
            Err(e) => {
                // The assign may have happened although no usable answer came back: drop
                // the cached list so the retry finds it.
                if may_have_happened(&e) {
                    self.cache.invalidate(&scope);
                }
                Err(e)
            }
        }
    }

    async fn update(
        &self,
        have: &ExternalId,
        _want: &Assignment,
    ) -> Result<Observed, ProviderError> {
        Err(ProviderError::Config(format!(
            "ZenML cannot change assignment {have} in place; it is replaced instead"
        )))
    }

    async fn delete(
        &self,
        have: &ExternalId,
        _want: &Assignment,
    ) -> Result<Deletion, ProviderError> {
        let a = parse_id(have)?;
        let scope = a.list_scope();
        // Revoking what is gone may answer 404 or 200 (undocumented): gone either way.
        match self
            .send(|| write_request("revoke", Method::DELETE, &a))
            .await
        {
            Ok(_) => {}
            Err(ProviderError::NotFound { .. }) => {
                self.cache.apply(&scope, Change::Remove(a));
                return Ok(Deletion::AlreadyGone);
            }
            Err(e) => {
                if may_have_happened(&e) {
                    self.cache.invalidate(&scope);
                }
                return Err(e);
            }
        }
        // Where ZenML stores duplicates, a revoke may take one of two identical rows: a
        // second one someone else made still grants the role, and is theirs to revoke.
        self.cache.invalidate(&scope);
        Ok(match self.find(&a, FRESH).await? {
            Some(_) => Deletion::LeftAlone(format!(
                "{a} is still listed: another, identical assignment someone else made remains"
            )),
            None => Deletion::Deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "11111111-1111-4111-8111-111111111111";
    const U: &str = "22222222-2222-4222-8222-222222222222";
    const W: &str = "33333333-3333-4333-8333-333333333333";
    const P: &str = "44444444-4444-4444-8444-444444444444";

    fn user_assignment(scope: Scope) -> Assignment {
        Assignment {
            role: R.parse().unwrap(),
            principal: Principal::User(U.parse().unwrap()),
            scope,
        }
    }

    fn project_scope() -> Scope {
        Scope::Project(W.parse().unwrap(), P.parse().unwrap())
    }

    #[test]
    fn external_ids_are_readable_and_parse_back() {
        let a = user_assignment(project_scope());
        let id = a.external_id();
        assert_eq!(
            id.as_str(),
            format!("role={R}/user={U}/workspace={W}/project={P}")
        );
        assert_eq!(Assignment::from_external_id(&id), Ok(a));
        let team = Assignment {
            principal: Principal::Team(U.parse().unwrap()),
            scope: Scope::Organization,
            ..a
        };
        assert_eq!(team.to_string(), format!("role={R}/team={U}"));
        assert_eq!(team.to_string().parse::<Assignment>(), Ok(team));
        // Upper-case UUIDs name the same assignment.
        let upper = format!("role={}/team={U}", R.to_uppercase());
        assert_eq!(upper.parse::<Assignment>(), Ok(team));
    }

    #[test]
    fn malformed_external_ids_are_refused() {
        for bad in [
            "",
            "42",
            &format!("role={R}"),
            &format!("user={U}/role={R}"),
            &format!("role={R}/user=not-a-uuid"),
            &format!("role={R}/user={U}/project={P}"),
            &format!("role={R}/user={U}/workspace={W}/project={P}/extra={P}"),
            &format!("role={R}/user={U}/team={U}"),
        ] {
            let err = bad.parse::<Assignment>().unwrap_err();
            assert!(
                err.to_string().contains("is not a ZenML assignment"),
                "{bad}: {err}"
            );
        }
        assert!(matches!(
            parse_id(&ExternalId::new("7")),
            Err(ProviderError::Rejected { .. })
        ));
    }

    fn role() -> RoleId {
        R.parse().unwrap()
    }

    #[test]
    fn a_role_is_named_by_the_item_else_by_what_was_read() {
        let want = user_assignment(Scope::Organization);
        let read = || Some("read by id".to_owned());
        let named = json!({"user": {"id": U}, "role": {"id": R, "name": "Organization Viewer"}});
        let remote = Remote::parse(named, role()).unwrap().unwrap();
        assert_eq!(
            remote.observed(&want, read()).role_name.as_deref(),
            Some("Organization Viewer")
        );
        let bare = Remote::parse(json!({"user": {"id": U}}), role())
            .unwrap()
            .unwrap();
        assert_eq!(
            bare.observed(&want, read()).role_name.as_deref(),
            Some("read by id")
        );
        assert_eq!(bare.observed(&want, None).role_name, None);
    }

    #[test]
    fn listed_items_keep_user_team_and_scope_apart() {
        let item = |user: bool, ws: Option<&str>| {
            let principal = json!({"id": U, "name": "alice"});
            json!({
                "user": if user { principal.clone() } else { Value::Null },
                "team": if user { Value::Null } else { principal },
                "invitation": null,
                "organization_id": "org",
                "workspace_id": ws,
                "project_id": null,
            })
        };
        let parse = |item| Remote::parse(item, role()).unwrap().unwrap();
        let org_user = parse(item(true, None));
        let org_team = parse(item(false, None));
        let ws_user = parse(item(true, Some(W)));
        let want = user_assignment(Scope::Organization);
        assert!(org_user.observed(&want, None).up_to_date());
        assert!(!org_team.observed(&want, None).up_to_date());
        assert!(!ws_user.observed(&want, None).up_to_date());
        assert_eq!(org_user.at_provider["role"]["id"], R);
        assert_eq!(org_user.at_provider["user"]["name"], "alice");

        let mut index = Index::default();
        index.upsert(org_team);
        index.upsert(ws_user);
        assert!(!index.0.contains_key(&want));
        index.upsert(org_user);
        assert!(index.0.contains_key(&want));
        index.remove(&want);
        assert!(!index.0.contains_key(&want));

        assert!(matches!(
            Remote::parse(json!({"user": null, "team": null}), role()),
            Err(ProviderError::Malformed(_))
        ));
        assert!(matches!(
            Remote::parse(json!({"user": {"id": U}, "project_id": P}), role()),
            Err(ProviderError::Malformed(_))
        ));
    }

    /// The API reference's item (no `role`, an `invitation` field) and the older form.
    #[test]
    fn items_need_no_role_and_pending_invitations_are_skipped() {
        let documented = json!({"user": {"id": U}, "team": null, "invitation": null,
            "organization_id": "org", "workspace_id": W, "project_id": null});
        let remote = Remote::parse(documented, role()).unwrap().unwrap();
        assert_eq!(
            remote.assignment,
            user_assignment(Scope::Workspace(W.parse().unwrap()))
        );
        assert_eq!(remote.at_provider["role"], json!({"id": R, "name": null}));

        let older = json!({"user": {"id": U}, "team": null, "role": {"id": R, "name": "Editor"}});
        let remote = Remote::parse(older, role()).unwrap().unwrap();
        assert_eq!(remote.at_provider["role"]["name"], "Editor");

        let invitation = json!({"user": null, "team": null, "invitation": {"id": P},
            "organization_id": "org", "workspace_id": null, "project_id": null});
        assert_eq!(Remote::parse(invitation, role()).unwrap(), None);
    }

    #[test]
    fn lists_are_arrays_or_page_objects() {
        let plain = parse_list(json!([{"a": 1}])).unwrap();
        assert_eq!((plain.items.len(), plain.next), (1, None));
        let first = parse_list(json!({"index": 1, "total_pages": 3, "items": [{}, {}]})).unwrap();
        assert_eq!((first.items.len(), first.next), (2, Some(2)));
        let last = parse_list(json!({"index": 3, "total_pages": 3, "items": []})).unwrap();
        assert_eq!(last.next, None);
        assert!(parse_list(json!({"results": []})).is_err());
        assert!(parse_list(json!("nope")).is_err());
    }

    #[test]
    fn a_workspace_names_its_server_only_while_it_runs() {
        let id = "33333333-3333-4333-8333-333333333333";
        let running = json!({"id": id, "zenml_service": {
            "configuration": {"version": "0.98.0"},
            "status": {"server_url": "https://ws.example.zenml.io", "version": "0.98.0"}}});
        let parsed = Workspace::parse(&running).unwrap();
        assert_eq!(parsed.id.to_string(), id);
        assert_eq!(
            parsed.server_url.as_deref(),
            Some("https://ws.example.zenml.io")
        );
        for stopped in [
            json!({"id": id, "zenml_service": {"configuration": null, "status": null}}),
            json!({"id": id, "zenml_service": {"status": {"server_url": ""}}}),
            json!({"id": id}),
        ] {
            assert_eq!(
                Workspace::parse(&stopped).unwrap().server_url,
                None,
                "{stopped}"
            );
        }
        assert!(Workspace::parse(&json!({"name": "no id"})).is_err());
    }

    #[test]
    fn fastapi_details_become_one_line() {
        assert_eq!(
            error_message(br#"{"detail":"Not authenticated"}"#).unwrap(),
            "Not authenticated"
        );
        assert_eq!(
            error_message(br#"{"detail":["IllegalOperationError","Cannot revoke the last role"]}"#)
                .unwrap(),
            "IllegalOperationError: Cannot revoke the last role"
        );
        assert_eq!(
            error_message(
                br#"{"detail":[{"loc":["query","project_id"],"msg":"requires workspace_id","type":"value_error"}]}"#
            )
            .unwrap(),
            "query.project_id: requires workspace_id"
        );
        assert_eq!(error_message(b"<html>"), None);
    }

    #[test]
    fn refused_operations_are_rules_not_bad_credentials() {
        let refused = refine(ProviderError::Unauthorized {
            status: 403,
            message: "IllegalOperationError: Cannot revoke".into(),
        });
        assert!(matches!(
            refused,
            ProviderError::Rejected { status: 403, .. }
        ));
        assert!(!refused.is_retryable());
        let forbidden = refine(ProviderError::Unauthorized {
            status: 403,
            message: "Forbidden".into(),
        });
        assert_eq!(forbidden.reason(), "Unauthorized");
    }

    #[test]
    fn secrets_are_redacted_from_errors() {
        let e = redact(
            ProviderError::Rejected {
                status: 422,
                message: "bad key ZENPROKEY_abc".into(),
            },
            "ZENPROKEY_abc",
        );
        assert_eq!(e.to_string(), "rejected (HTTP 422): bad key [redacted]");
    }

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(
            renew_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(renew_after(Duration::from_secs(10)), Duration::from_secs(8));
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn debug_output_hides_the_key() {
        let client = ZenmlClient::new(
            "http://127.0.0.1:1",
            SecretString::from("ZENPROKEY_secret"),
            HttpSettings::default(),
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("ZENPROKEY_secret"));
        assert!(matches!(
            ZenmlClient::new(
                "http://127.0.0.1:1",
                SecretString::from(" "),
                HttpSettings::default()
            ),
            Err(ProviderError::Config(_))
        ));
    }

    /// An assignment becomes the spec that asks for it; listed organizations, roles and
    /// workspaces are read by their UUID `id`.
    #[test]
    fn assignments_become_specs_and_listed_ids_are_uuids() {
        let a = user_assignment(project_scope());
        let spec = a.spec();
        assert_eq!(spec.role_id, a.role.to_string());
        assert!(spec.user_id.is_some() && spec.team_id.is_none());
        assert!(spec.workspace_id.is_some() && spec.project_id.is_some());
        let team = Assignment {
            principal: Principal::Team(TeamId(Uuid::from_u128(7))),
            ..user_assignment(Scope::Organization)
        };
        let spec = team.spec();
        assert_eq!(spec.team_id, Some(Uuid::from_u128(7).to_string()));
        assert_eq!((spec.user_id, spec.workspace_id), (None, None));
        let item = json!({"id": "40000000-0000-4000-8000-000000000001", "name": "prod"});
        assert_eq!(
            item_id::<WorkspaceId>(&item, "workspace")
                .unwrap()
                .to_string(),
            "40000000-0000-4000-8000-000000000001"
        );
        assert!(matches!(
            item_id::<RoleId>(&json!({"id": 3}), "role"),
            Err(ProviderError::Malformed(_))
        ));
    }
}
