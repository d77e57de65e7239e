//! A simulator of ZenML Pro's role-assignment API (`/roles/{role_id}/assignments`) and
//! its API-key login (`/auth/login`).
//!
//! It enforces the organization's rules: exactly one of user, team and pending invitation,
//! a project only within its workspace, and neither the owner's admin role nor a member's
//! last role can be revoked. Errors are FastAPI bodies as ZenML sends them.
//!
//! The API reference (docs.zenml.io, Pro API "roles/assignments") lists items as
//! `{user, team, invitation, organization_id, workspace_id, project_id}` without `role`,
//! lists pending invitations (no user, no team), takes `invitation_id` on assign and
//! answers revoke with 200. What it leaves open is an option of [`ZenmlSimConfig`], so
//! that every reading can be played: the answer to assigning what is already assigned
//! ([`Duplicates`]), to revoking what is not ([`RevokeMissing`]), and list items with the
//! `role` the older seed showed (`list_role`), and whether a list filtered by workspace
//! alone also holds that workspace's project assignments (`workspace_lists_projects`).
//!
//! Each workspace also runs its own ZenML server (the `zenml` package's `WorkspaceRead`
//! names its URL in `zenml_service.status.server_url`), here under
//! `/workspace-servers/{workspace_id}`: its API-key login (`POST /api/v1/login`, form
//! `password`, answering a token of its own) and its projects (`GET /api/v1/projects`, the
//! open-source server's page object: `page` from 1 and `size`, default 20).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use super::{Faults, RequestLog, SimServer};

/// How a second assign of an assignment that exists is answered: undocumented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Duplicates {
    /// 409 EntityExistsError: ZenML's servers map EntityExistsError to 409 (the `zenml`
    /// package's `zen_server/exceptions.py`), so the most likely answer.
    #[default]
    Conflict409,
    /// 400 ValueError.
    Rejected400,
    /// 422, as FastAPI answers a request it finds invalid.
    Rejected422,
    /// Accepted: a second, identical row is stored and listed.
    Stored,
}

/// How revoking an assignment that does not exist is answered: undocumented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RevokeMissing {
    /// 404 KeyError, ZenML's answer to an unknown entity (the most likely).
    #[default]
    NotFound,
    /// 200, as for a revoke that removed something.
    Ok,
}

/// Fixture ids are fixed so that examples and tests can name them.
const fn id(prefix: u128, n: u128) -> Uuid {
    Uuid::from_u128((prefix << 96) | 0x0000_4000_8000_0000_0000_0000 | n)
}

/// The organization, its members, teams, roles, workspaces and projects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZenmlFixtures {
    pub organization_id: Uuid,
    /// Roles by id, with their names; the first is the organization admin role.
    pub roles: Vec<(Uuid, String)>,
    /// The member role every user but the owner starts with (organization-wide).
    pub member_role_id: Uuid,
    /// The organization owner, who holds the admin role; it cannot be revoked.
    pub owner_id: Uuid,
    pub user_ids: Vec<Uuid>,
    pub team_ids: Vec<Uuid>,
    /// Pending invitations: listed with the roles they will bring, without user or team.
    pub invitation_ids: Vec<Uuid>,
    pub workspace_ids: Vec<Uuid>,
    /// `(workspace, project)` pairs.
    pub projects: Vec<(Uuid, Uuid)>,
}

impl ZenmlFixtures {
    pub fn admin_role_id(&self) -> Uuid {
        self.roles[0].0
    }

    /// The assignments the organization starts with: the owner's admin role, every other
    /// user's member role, and for each pending invitation the member role plus the last
    /// role in the first workspace, so that lists at both scopes hold an invitation.
    pub fn seeded(&self) -> Vec<SimAssignment> {
        let users = self.user_ids.iter().map(|u| SimAssignment {
            role_id: if *u == self.owner_id {
                self.admin_role_id()
            } else {
                self.member_role_id
            },
            user_id: Some(*u),
            ..SimAssignment::default()
        });
        let invitations = self.invitation_ids.iter().flat_map(|i| {
            let invited = SimAssignment {
                invitation_id: Some(*i),
                ..SimAssignment::default()
            };
            let workspace_role = self.roles.last().zip(self.workspace_ids.first());
            [
                Some(SimAssignment {
                    role_id: self.member_role_id,
                    ..invited
                }),
                workspace_role.map(|((role, _), w)| SimAssignment {
                    role_id: *role,
                    workspace_id: Some(*w),
                    ..invited
                }),
            ]
        });
        users.chain(invitations.flatten()).collect()
    }
}

impl Default for ZenmlFixtures {
    fn default() -> Self {
        let roles = [
            "Organization Admin",
            "Organization Manager",
            "Organization Member",
            "Organization Viewer",
        ];
        Self {
            organization_id: id(0x0e000000, 1),
            roles: roles
                .iter()
                .zip(1..)
                .map(|(name, n)| (id(0x10000000, n), (*name).to_owned()))
                .collect(),
            member_role_id: id(0x10000000, 3),
            owner_id: id(0x20000000, 1),
            user_ids: (1..=6).map(|n| id(0x20000000, n)).collect(),
            team_ids: (1..=2).map(|n| id(0x30000000, n)).collect(),
            invitation_ids: (1..=2).map(|n| id(0x60000000, n)).collect(),
            workspace_ids: (1..=2).map(|n| id(0x40000000, n)).collect(),
            projects: vec![
                (id(0x40000000, 1), id(0x50000000, 1)),
                (id(0x40000000, 1), id(0x50000000, 2)),
                (id(0x40000000, 2), id(0x50000000, 3)),
            ],
        }
    }
}

#[derive(Clone)]
pub struct ZenmlSimConfig {
    pub api_key: String,
    pub fixtures: ZenmlFixtures,
    pub faults: Faults,
    /// How long issued tokens live (`expires_in`); short in tests that need expiry.
    pub token_lifetime: Duration,
    /// Answer lists as page objects of this many items instead of plain arrays.
    pub page_size: Option<usize>,
    pub duplicates: Duplicates,
    pub revoke_missing: RevokeMissing,
    /// List items carry `role`, as the older seed showed; the API reference lists none.
    pub list_role: bool,
    /// A list filtered by `workspace_id` alone also holds the workspace's project
    /// assignments (undocumented: either may be so).
    pub workspace_lists_projects: bool,
}

impl Default for ZenmlSimConfig {
    fn default() -> Self {
        Self {
            api_key: "ZENPROKEY_sandbox".to_owned(),
            fixtures: ZenmlFixtures::default(),
            faults: Faults::default(),
            token_lifetime: Duration::from_secs(3600),
            page_size: None,
            duplicates: Duplicates::default(),
            revoke_missing: RevokeMissing::default(),
            list_role: false,
            workspace_lists_projects: false,
        }
    }
}

/// Where a token is good: the Pro API, or one workspace's own server (which issues its
/// own tokens and accepts no other's: `zen_server/auth.py` decodes only its own JWTs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Audience {
    ProApi,
    Workspace(Uuid),
}

/// One role assignment: exactly one of `user_id` / `team_id` / `invitation_id`;
/// `project_id` only with `workspace_id`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimAssignment {
    pub role_id: Uuid,
    pub user_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub invitation_id: Option<Uuid>,
    pub workspace_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
}

struct Store {
    api_key: String,
    token_lifetime: Duration,
    /// Issued tokens: the server each is good at, and when it expires.
    tokens: HashMap<String, (Audience, Instant)>,
    /// Each assignment with its number of rows (more than one only with
    /// [`Duplicates::Stored`]); ordered so that paging is stable.
    assignments: BTreeMap<SimAssignment, usize>,
}

impl Store {
    fn rows(&self) -> impl Iterator<Item = &SimAssignment> {
        self.assignments
            .iter()
            .flat_map(|(a, rows)| std::iter::repeat_n(a, *rows))
    }

    fn insert(&mut self, a: SimAssignment) -> bool {
        let rows = self.assignments.entry(a).or_default();
        *rows += 1;
        *rows == 1
    }

    /// Removes one row of `a`: a revoke names the assignment, not a row.
    fn remove(&mut self, a: &SimAssignment) -> bool {
        match self.assignments.get_mut(a) {
            Some(rows) if *rows > 1 => *rows -= 1,
            Some(_) => {
                self.assignments.remove(a);
            }
            None => return false,
        }
        true
    }
}

struct Inner {
    fixtures: ZenmlFixtures,
    names: HashMap<Uuid, String>,
    page_size: Option<usize>,
    duplicates: Duplicates,
    revoke_missing: RevokeMissing,
    list_role: bool,
    workspace_lists_projects: bool,
    store: Mutex<Store>,
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn named(&self, id: Uuid) -> Value {
        json!({"id": id.to_string(), "name": self.names.get(&id)})
    }

    fn to_json(&self, a: &SimAssignment) -> Value {
        let mut item = json!({
            "user": a.user_id.map(|u| self.named(u)),
            "team": a.team_id.map(|t| self.named(t)),
            "invitation": a.invitation_id.map(|i| json!({"id": i.to_string()})),
            "organization_id": self.fixtures.organization_id.to_string(),
            "workspace_id": a.workspace_id.map(|w| w.to_string()),
            "project_id": a.project_id.map(|p| p.to_string()),
        });
        if self.list_role {
            item["role"] = self.named(a.role_id);
        }
        item
    }
}

/// ZenML's error body: `detail` is a message, `[exception class, message]`, or a list of
/// validation errors.
fn error_body(status: u16, message: &str) -> Value {
    match status {
        401 => json!({"detail": message}),
        429 => json!({"detail": "Too many requests"}),
        _ => json!({"detail": [class_of(status), message]}),
    }
}

fn class_of(status: u16) -> &'static str {
    match status {
        403 => "IllegalOperationError",
        404 => "KeyError",
        409 => "EntityExistsError",
        400 | 422 => "ValueError",
        _ => "RuntimeError",
    }
}

/// An error answer; handlers return it with `?`.
struct ApiError(StatusCode, Value);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

fn error(status: StatusCode, message: &str) -> ApiError {
    ApiError(status, error_body(status.as_u16(), message))
}

/// FastAPI's 422 for a bad parameter.
fn invalid(place: &str, name: &str, msg: &str) -> ApiError {
    ApiError(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"detail": [{"loc": [place, name], "msg": msg, "type": "value_error"}]}),
    )
}

fn not_found(what: &str, id: Uuid) -> ApiError {
    error(StatusCode::NOT_FOUND, &format!("{what} {id} not found"))
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "Not authenticated"))
}

/// A request to the Pro API with a Pro API token.
fn authorize(inner: &Inner, headers: &HeaderMap) -> Result<(), ApiError> {
    authorize_at(inner, headers, Audience::ProApi)
}

fn authorize_at(inner: &Inner, headers: &HeaderMap, at: Audience) -> Result<(), ApiError> {
    let token = bearer(headers)?;
    match inner.store().tokens.get(&token) {
        Some((audience, expires)) if *audience == at && *expires > Instant::now() => Ok(()),
        Some((audience, _)) if *audience == at => Err(error(
            StatusCode::UNAUTHORIZED,
            "Authentication error: the access token has expired",
        )),
        // Unknown here, or issued by another server.
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            "Authentication error: invalid access token",
        )),
    }
}

/// Reads `password` out of an `application/x-www-form-urlencoded` body.
fn form_password(body: &[u8]) -> Option<String> {
    std::str::from_utf8(body).ok()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "password").then(|| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Checks the form's API key and issues a token good at `audience`.
fn exchange_key(
    inner: &Inner,
    body: &[u8],
    prefix: &str,
    audience: Audience,
) -> Result<Response, ApiError> {
    let Some(password) = form_password(body) else {
        return Err(invalid("body", "password", "Field required"));
    };
    let mut store = inner.store();
    if password != store.api_key {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Authentication error: invalid API key",
        ));
    }
    let token = format!("{prefix}-{}", Uuid::new_v4().simple());
    let lifetime = store.token_lifetime;
    store
        .tokens
        .insert(token.clone(), (audience, Instant::now() + lifetime));
    Ok(axum::Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime.as_secs(),
    }))
    .into_response())
}

async fn login(State(inner): State<Arc<Inner>>, body: Bytes) -> Result<Response, ApiError> {
    exchange_key(&inner, &body, "zenpro-token", Audience::ProApi)
}

fn workspace_param(inner: &Inner, raw: &str) -> Result<Uuid, ApiError> {
    let id = Uuid::try_parse(raw)
        .map_err(|_| invalid("path", "workspace_id", "Input should be a valid UUID"))?;
    if inner.fixtures.workspace_ids.contains(&id) {
        Ok(id)
    } else {
        Err(not_found("Workspace", id))
    }
}

/// A workspace server's `POST /api/v1/login` with the organization's API key (the server
/// asks the Pro API whether a `ZENPROKEY_` key is good): a token for this server only.
async fn workspace_login(
    State(inner): State<Arc<Inner>>,
    Path(raw_workspace): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let workspace = workspace_param(&inner, &raw_workspace)?;
    exchange_key(&inner, &body, "zenws-token", Audience::Workspace(workspace))
}

/// The open-source server's largest page (`PAGE_SIZE_MAXIMUM`, `zenml/constants.py`; the
/// default of 20 and `page` from 1 are `BaseFilter`'s, `zenml/models/v2/base/filter.py`).
const MAX_PROJECT_PAGE: usize = 10_000;

/// A workspace server's `GET /api/v1/projects?page=&size=`: the open-source server's
/// `Page` (`index`, `max_size`, `total_pages`, `total`, `items`), items as its
/// `ProjectResponse` without hydration.
async fn list_projects(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_workspace): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let workspace = workspace_param(&inner, &raw_workspace)?;
    authorize_at(&inner, &headers, Audience::Workspace(workspace))?;
    let number = |name: &str, default: usize| match params.get(name) {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PROJECT_PAGE).contains(n))
            .ok_or_else(|| invalid("query", name, "Input should be an integer >= 1")),
        None => Ok(default),
    };
    let index = number("page", 1)?;
    let size = number("size", inner.page_size.filter(|s| *s > 0).unwrap_or(20))?;
    let projects: Vec<Uuid> = inner
        .fixtures
        .projects
        .iter()
        .filter(|(w, _)| *w == workspace)
        .map(|(_, p)| *p)
        .collect();
    let projects: Vec<Value> = projects
        .iter()
        .map(|p| {
            json!({
                "id": p.to_string(),
                "name": format!("project-{}", p.simple()),
                "permission_denied": false,
                "body": {
                    "created": "2025-01-01T00:00:00",
                    "updated": "2025-01-01T00:00:00",
                    "display_name": "project",
                },
            })
        })
        .collect();
    Ok(page_object(projects, index, size))
}

/// Page `index` (from 1) of `all`, `size` items a page, as ZenML's `Page` object.
fn page_object(all: Vec<Value>, index: usize, size: usize) -> Response {
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip((index - 1).saturating_mul(size))
        .take(size)
        .collect();
    axum::Json(json!({
        "index": index,
        "max_size": size,
        "total_pages": total.div_ceil(size).max(1),
        "total": total,
        "items": items,
    }))
    .into_response()
}

fn uuid_param(params: &HashMap<String, String>, name: &str) -> Result<Option<Uuid>, ApiError> {
    params
        .get(name)
        .map(|v| {
            Uuid::try_parse(v).map_err(|_| invalid("query", name, "Input should be a valid UUID"))
        })
        .transpose()
}

fn role_param(inner: &Inner, raw: &str) -> Result<Uuid, ApiError> {
    let role = Uuid::try_parse(raw)
        .map_err(|_| invalid("path", "role_id", "Input should be a valid UUID"))?;
    if inner.fixtures.roles.iter().any(|(r, _)| *r == role) {
        Ok(role)
    } else {
        Err(not_found("Role", role))
    }
}

/// The scope named by `workspace_id` / `project_id`, checked against the fixtures.
fn scope_params(
    inner: &Inner,
    params: &HashMap<String, String>,
) -> Result<(Option<Uuid>, Option<Uuid>), ApiError> {
    let workspace = uuid_param(params, "workspace_id")?;
    let project = uuid_param(params, "project_id")?;
    if let Some(w) = workspace
        && !inner.fixtures.workspace_ids.contains(&w)
    {
        return Err(not_found("Workspace", w));
    }
    match (workspace, project) {
        (None, Some(_)) => Err(invalid(
            "query",
            "project_id",
            "workspace_id is required when project_id is set",
        )),
        (Some(w), Some(p)) if !inner.fixtures.projects.contains(&(w, p)) => Err(error(
            StatusCode::NOT_FOUND,
            &format!("Project {p} not found in workspace {w}"),
        )),
        scope => Ok(scope),
    }
}

/// A write's assignment: the role from the path, the rest from the query.
fn write_params(
    inner: &Inner,
    raw_role: &str,
    params: &HashMap<String, String>,
) -> Result<SimAssignment, ApiError> {
    let role_id = role_param(inner, raw_role)?;
    let user_id = uuid_param(params, "user_id")?;
    let team_id = uuid_param(params, "team_id")?;
    let invitation_id = uuid_param(params, "invitation_id")?;
    let f = &inner.fixtures;
    match (user_id, team_id, invitation_id) {
        (Some(u), None, None) if !f.user_ids.contains(&u) => return Err(not_found("User", u)),
        (None, Some(t), None) if !f.team_ids.contains(&t) => return Err(not_found("Team", t)),
        (None, None, Some(i)) if !f.invitation_ids.contains(&i) => {
            return Err(not_found("Invitation", i));
        }
        (Some(_), None, None) | (None, Some(_), None) | (None, None, Some(_)) => {}
        _ => {
            return Err(invalid(
                "query",
                "user_id",
                "exactly one of user_id, team_id and invitation_id must be set",
            ));
        }
    }
    let (workspace_id, project_id) = scope_params(inner, params)?;
    Ok(SimAssignment {
        role_id,
        user_id,
        team_id,
        invitation_id,
        workspace_id,
        project_id,
    })
}

/// `GET /roles/{role_id}`: the API reference's "Get Role". Its body beyond `id` and
/// `name` is not public (INFERRED: a role's usual fields).
async fn get_role(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_role): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let role = role_param(&inner, &raw_role)?;
    let name = inner.names.get(&role).cloned().unwrap_or_default();
    Ok(axum::Json(json!({
        "id": role.to_string(),
        "name": name,
        "description": null,
        "organization_id": inner.fixtures.organization_id.to_string(),
    }))
    .into_response())
}

/// `GET /organizations`: the organizations the caller belongs to (the Pro API reference's
/// "Organizations", a plain array of organizations); an organization's service account
/// belongs to one.
async fn list_organizations(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    Ok(axum::Json(json!([{
        "id": inner.fixtures.organization_id.to_string(),
        "name": "sandbox",
        "description": null,
        "logo_url": null,
        "created": "2025-01-01T00:00:00Z",
        "updated": "2025-01-01T00:00:00Z",
    }]))
    .into_response())
}

fn organization_param(inner: &Inner, raw: &str) -> Result<(), ApiError> {
    let id = Uuid::try_parse(raw)
        .map_err(|_| invalid("path", "organization_id", "Input should be a valid UUID"))?;
    if id == inner.fixtures.organization_id {
        Ok(())
    } else {
        Err(not_found("Organization", id))
    }
}

/// `GET /organizations/{organization_id}/roles`: the organization's roles (the Pro API
/// reference's "Organizations / Roles"), a plain array of roles as "Get Role" shows one.
async fn list_roles(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_org): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    organization_param(&inner, &raw_org)?;
    let roles: Vec<Value> = inner
        .fixtures
        .roles
        .iter()
        .map(|(id, name)| {
            json!({
                "id": id.to_string(),
                "name": name,
                "description": null,
                "organization_id": inner.fixtures.organization_id.to_string(),
            })
        })
        .collect();
    Ok(axum::Json(roles).into_response())
}

/// The ZenML version the workspace servers report.
const ZENML_VERSION: &str = "0.98.0";

/// The largest `limit` of the workspace list.
const MAX_WORKSPACE_LIMIT: usize = 100;

/// `GET /workspaces?organization_id=&offset=&limit=`: the Pro API reference's "List
/// Workspaces Endpoint" (formerly `/tenants`): a plain array, `offset` from 0 and `limit`
/// at most 100 (default 100), filtered by organization.
async fn list_workspaces(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let number = |name: &str, default: usize| match params.get(name) {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| invalid("query", name, "Input should be a valid integer")),
        None => Ok(default),
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", MAX_WORKSPACE_LIMIT)?;
    if limit > MAX_WORKSPACE_LIMIT {
        return Err(invalid(
            "query",
            "limit",
            "Input should be less than or equal to 100",
        ));
    }
    let organization = uuid_param(&params, "organization_id")?;
    // Each workspace server runs beside the Pro API, reached as the request reached it.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let f = &inner.fixtures;
    let listed = organization.is_none_or(|o| o == f.organization_id);
    let workspaces: Vec<Value> = f
        .workspace_ids
        .iter()
        .filter(|_| listed)
        .skip(offset)
        .take(limit)
        .map(|w| {
            json!({
                "id": w.to_string(),
                "name": format!("workspace-{}", w.simple()),
                "display_name": "workspace",
                "organization": {"id": f.organization_id.to_string(), "name": "sandbox"},
                "desired_state": "available",
                "state_reason": "",
                "status": "available",
                "zenml_service": {
                    "configuration": {"version": ZENML_VERSION},
                    "status": {
                        "server_url": format!("http://{host}/workspace-servers/{w}"),
                        "version": ZENML_VERSION,
                    },
                },
            })
        })
        .collect();
    Ok(axum::Json(workspaces).into_response())
}

async fn list(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_role): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let role = role_param(&inner, &raw_role)?;
    let (workspace, project) = scope_params(&inner, &params)?;
    let matching: Vec<Value> = inner
        .store()
        .rows()
        .filter(|a| {
            let in_scope = a.project_id == project
                || (inner.workspace_lists_projects && workspace.is_some() && project.is_none());
            a.role_id == role && a.workspace_id == workspace && in_scope
        })
        .map(|a| inner.to_json(a))
        .collect();
    let Some(size) = inner.page_size.filter(|s| *s > 0) else {
        return Ok(axum::Json(matching).into_response());
    };
    let index = match params.get("page") {
        Some(p) => p
            .parse::<usize>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| invalid("query", "page", "Input should be an integer >= 1"))?,
        None => 1,
    };
    Ok(page_object(matching, index, size))
}

async fn assign(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_role): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let wanted = write_params(&inner, &raw_role, &params)?;
    let mut store = inner.store();
    if store.assignments.contains_key(&wanted) {
        let status = match inner.duplicates {
            Duplicates::Conflict409 => Some(StatusCode::CONFLICT),
            Duplicates::Rejected400 => Some(StatusCode::BAD_REQUEST),
            Duplicates::Rejected422 => Some(StatusCode::UNPROCESSABLE_ENTITY),
            Duplicates::Stored => None,
        };
        if let Some(status) = status {
            return Err(error(status, "The role is already assigned in this scope"));
        }
    }
    store.insert(wanted);
    Ok(axum::Json(inner.to_json(&wanted)).into_response())
}

async fn revoke(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(raw_role): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    authorize(&inner, &headers)?;
    let target = write_params(&inner, &raw_role, &params)?;
    let mut store = inner.store();
    if !store.assignments.contains_key(&target) {
        return match inner.revoke_missing {
            RevokeMissing::NotFound => {
                Err(error(StatusCode::NOT_FOUND, "Role assignment not found"))
            }
            RevokeMissing::Ok => Ok(revoked()),
        };
    }
    if let Some(user) = target.user_id {
        let owner_admin = user == inner.fixtures.owner_id
            && target.role_id == inner.fixtures.admin_role_id()
            && target.workspace_id.is_none();
        if owner_admin {
            return Err(error(
                StatusCode::FORBIDDEN,
                "Cannot revoke the admin role of the organization owner",
            ));
        }
        if store.rows().filter(|a| a.user_id == Some(user)).count() == 1 {
            return Err(error(
                StatusCode::FORBIDDEN,
                &format!(
                    "Cannot revoke the last role of member {user}: assign another role first or remove the member from the organization"
                ),
            ));
        }
    }
    store.remove(&target);
    Ok(revoked())
}

/// 200 "Successful Response" per the API reference; the body of a FastAPI handler that
/// returns nothing is `null` (INFERRED: the reference shows no body).
fn revoked() -> Response {
    axum::Json(Value::Null).into_response()
}

/// A running ZenML Pro simulator.
pub struct ZenmlSim {
    server: SimServer,
    inner: Arc<Inner>,
}

impl ZenmlSim {
    pub async fn start(config: ZenmlSimConfig) -> std::io::Result<ZenmlSim> {
        let f = &config.fixtures;
        let mut names: HashMap<Uuid, String> = f.roles.iter().cloned().collect();
        let people = ["alice", "bob", "carol", "dave", "erin", "frank"];
        for (i, u) in f.user_ids.iter().enumerate() {
            names.insert(
                *u,
                people
                    .get(i)
                    .map_or_else(|| format!("user-{i}"), |p| (*p).to_owned()),
            );
        }
        for (i, t) in f.team_ids.iter().enumerate() {
            names.insert(*t, format!("team-{}", i + 1));
        }
        let mut store = Store {
            api_key: config.api_key,
            token_lifetime: config.token_lifetime,
            tokens: HashMap::new(),
            assignments: BTreeMap::new(),
        };
        for a in f.seeded() {
            store.insert(a);
        }
        let inner = Arc::new(Inner {
            names,
            page_size: config.page_size,
            duplicates: config.duplicates,
            revoke_missing: config.revoke_missing,
            list_role: config.list_role,
            workspace_lists_projects: config.workspace_lists_projects,
            store: Mutex::new(store),
            fixtures: config.fixtures,
        });
        let router = Router::new()
            .route("/auth/login", post(login))
            .route("/roles/{role_id}", get(get_role))
            .route("/organizations", get(list_organizations))
            .route("/organizations/{organization_id}/roles", get(list_roles))
            .route("/workspaces", get(list_workspaces))
            .route(
                "/workspace-servers/{workspace_id}/api/v1/login",
                post(workspace_login),
            )
            .route(
                "/workspace-servers/{workspace_id}/api/v1/projects",
                get(list_projects),
            )
            .route(
                "/roles/{role_id}/assignments",
                get(list).post(assign).delete(revoke),
            )
            .with_state(inner.clone());
        let server = SimServer::start(router, config.faults, error_body).await?;
        Ok(ZenmlSim { server, inner })
    }

    /// What a ProviderConfig's endpoint would hold: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// Revokes the old API key: it and every token issued for it are refused from now on.
    pub fn set_api_key(&self, key: &str) {
        let mut store = self.inner.store();
        store.api_key = key.to_owned();
        store.tokens.clear();
    }

    /// Every issued token expires now, as if its lifetime had run out.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for (_, expires) in self.inner.store().tokens.values_mut() {
            *expires = now;
        }
    }

    /// The remote state, one entry per row (a stored duplicate shows twice), in a
    /// stable order.
    pub fn assignments(&self) -> Vec<SimAssignment> {
        self.inner.store().rows().copied().collect()
    }

    /// The remote state as the API lists it.
    pub fn assignments_json(&self) -> Vec<Value> {
        let store = self.inner.store();
        store.rows().map(|a| self.inner.to_json(a)).collect()
    }

    /// A row someone else added (no validation, whatever [`Duplicates`] says); false when
    /// the assignment already had one.
    pub fn insert_assignment(&self, a: SimAssignment) -> bool {
        self.inner.store().insert(a)
    }

    /// Someone revoked one row of an assignment (no rules); false when it had none.
    pub fn remove_assignment(&self, a: &SimAssignment) -> bool {
        self.inner.store().remove(a)
    }

    pub fn requests(&self) -> Vec<RequestLog> {
        self.server.requests()
    }

    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    pub fn fixtures(&self) -> &ZenmlFixtures {
        &self.inner.fixtures
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_ids_are_fixed_and_readable() {
        let f = ZenmlFixtures::default();
        assert_eq!(
            f.owner_id.to_string(),
            "20000000-0000-4000-8000-000000000001"
        );
        assert_eq!(
            f.admin_role_id().to_string(),
            "10000000-0000-4000-8000-000000000001"
        );
        assert_eq!(
            f.projects[2].1.to_string(),
            "50000000-0000-4000-8000-000000000003"
        );
        assert_eq!(
            f.organization_id.to_string(),
            "0e000000-0000-4000-8000-000000000001"
        );
    }

    #[test]
    fn form_passwords_are_decoded() {
        assert_eq!(
            form_password(b"password=a%20b%26c").as_deref(),
            Some("a b&c")
        );
        assert_eq!(form_password(b"x=1&password=k+y").as_deref(), Some("k y"));
        assert_eq!(form_password(b"username=u"), None);
    }

    #[test]
    fn errors_look_like_zenml() {
        assert_eq!(
            error_body(401, "Not authenticated"),
            json!({"detail": "Not authenticated"})
        );
        assert_eq!(
            error_body(403, "no"),
            json!({"detail": ["IllegalOperationError", "no"]})
        );
    }
}
