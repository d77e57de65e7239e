//! A simulator of Harness's v1 role-assignment API at account, organization and project
//! scope (`/v1/role-assignments`, `/v1/orgs/{org}/...`, `/v1/orgs/{org}/projects/{project}/...`).
//!
//! Behaviour follows Harness's server source, the last public state of it (harness-core
//! as forked in guycastel/harness-core, 2024-01; older states from
//! vigneswara-propelo/harness-core). Paths below are in that tree; "RAU" is
//! `access-control/service/src/main/java/io/harness/accesscontrol/roleassignments/api/RoleAssignmentApiUtils.java`,
//! "Impl" its `{Account,Org,Project}RoleAssignmentsApiImpl.java` neighbours. Where Harness's
//! behaviour changed over time or the source allows more than one reading, the reading is a
//! [`HarnessSimConfig`] option, defaulting to the newest.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Faults, RequestLog, SimServer};

/// Page size when `limit` is absent, and the largest one (SPEC
/// `access-control/contracts/openapi/v1/openapi.yaml`, parameters `Page`/`Limit`).
const DEFAULT_LIMIT: u64 = 30;
const MAX_LIMIT: u64 = 100;

/// Harness's published limit for external API calls: "400 calls per minute per X-API-Key"
/// (https://developer.harness.io/docs/platform/rate-limits/). The stricter of its per-key
/// limits (the other is 1000 requests per API key per minute).
pub const REQUESTS_PER_MINUTE: u32 = 400;

/// A project of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ProjectRef {
    pub org: String,
    pub project: String,
}

/// What the simulated account holds. Roles and resource groups exist at every scope, and
/// users and user groups too; service accounts live at the account (which matters where
/// Harness looks for one: see [`ServiceAccountLevels`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HarnessFixtures {
    pub orgs: Vec<String>,
    pub projects: Vec<ProjectRef>,
    pub users: Vec<String>,
    pub user_groups: Vec<String>,
    pub service_accounts: Vec<String>,
    pub roles: Vec<String>,
    pub resource_groups: Vec<String>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for HarnessFixtures {
    fn default() -> Self {
        Self {
            orgs: strings(&["default", "platform"]),
            projects: [
                ("default", "payments"),
                ("default", "checkout"),
                ("platform", "infra"),
            ]
            .iter()
            .map(|(org, project)| ProjectRef {
                org: (*org).to_owned(),
                project: (*project).to_owned(),
            })
            .collect(),
            users: strings(&["alice", "bob", "carol", "dave"]),
            user_groups: strings(&["developers", "sre", "auditors"]),
            service_accounts: strings(&["ci_bot", "deployer"]),
            roles: strings(&[
                "_account_viewer",
                "_account_admin",
                "_organization_viewer",
                "_organization_admin",
                "_project_viewer",
                "_project_admin",
                "_pipeline_executor",
            ]),
            resource_groups: strings(&[
                "_all_resources_including_child_scopes",
                "_all_account_level_resources",
                "_all_organization_level_resources",
                "_all_project_level_resources",
            ]),
        }
    }
}

/// How Harness stores a SERVICE_ACCOUNT principal's scope level: its source says two
/// different things at two times (RAU `buildRoleAssignmentWithPrincipalScopeLevel`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServiceAccountLevels {
    /// Since commit ba107794c8e (2023-10-31, PL-41845): a level that was sent is stored as
    /// sent; an unset one becomes the level of the first scope, from the assignment's own
    /// upwards, where the service account exists (`getServiceAccountScopeLevel`).
    #[default]
    Kept,
    /// From commit 374ec6f4466 (2022-12-30, PL-30623) until then: a level other than the
    /// assignment's own is refused with 400 ("Principal should be of same scope as of role
    /// assignment"), and the stored level is always the assignment's own.
    Forced,
}

impl ServiceAccountLevels {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kept => "kept",
            Self::Forced => "forced",
        }
    }
}

impl fmt::Display for ServiceAccountLevels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names none of a type's values (a flag's, or a principal type in a request).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what}: expected {expected}")]
pub struct UnknownValue {
    what: &'static str,
    value: String,
    expected: &'static str,
}

impl FromStr for ServiceAccountLevels {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kept" => Ok(Self::Kept),
            "forced" => Ok(Self::Forced),
            other => Err(UnknownValue {
                what: "service account level reading",
                value: other.to_owned(),
                expected: "kept or forced",
            }),
        }
    }
}

/// A principal type of the v1 API (the SDK `harness-open-api` accepts exactly these three).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalType {
    User,
    UserGroup,
    ServiceAccount,
}

impl PrincipalType {
    pub const ALL: [PrincipalType; 3] = [Self::User, Self::UserGroup, Self::ServiceAccount];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::UserGroup => "USER_GROUP",
            Self::ServiceAccount => "SERVICE_ACCOUNT",
        }
    }
}

impl FromStr for PrincipalType {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "principal type",
                value: s.to_owned(),
                expected: "USER, USER_GROUP or SERVICE_ACCOUNT",
            })
    }
}

#[derive(Clone)]
pub struct HarnessSimConfig {
    /// The one key accepted, as `x-api-key`.
    pub api_key: String,
    pub account_id: String,
    pub fixtures: HarnessFixtures,
    pub faults: Faults,
    pub service_account_levels: ServiceAccountLevels,
    /// Lists send `X-Total-Elements`, `X-Page-Number` and `X-Page-Size`, as Harness does since
    /// commit b7b6ca34f52 (2023-02-02, CDS-52351: `ApiUtils.addLinksHeader` in
    /// `970-ng-commons/.../utils/ApiUtils.java`). `false` plays the code before it
    /// (2022-10-17, `RoleAssignmentApiUtils.addLinksHeader`): only `Link` headers.
    pub totals: bool,
    /// Principal types the key may not view: lists leave their assignments out and a GET of
    /// one is refused (Impl `get…RoleAssignments` / `get…RoleAssignment` via RAU
    /// `checkViewPermission`).
    pub hidden_principal_types: BTreeSet<PrincipalType>,
}

/// A key as Harness issues it: `pat.<accountId>.<tokenId>.<secret>`, the secret 20 letters
/// and digits (`120-ng-manager/.../ng/core/api/impl/TokenServiceImpl.java` `createToken`).
pub fn issue_api_key(account_id: &str) -> String {
    let secret: String = uuid::Uuid::new_v4().simple().to_string()[..20].to_owned();
    format!(
        "pat.{account_id}.{}.{secret}",
        uuid::Uuid::new_v4().simple()
    )
}

/// The account a `pat.`/`sat.` key names in its second field, as the official SDK reads it
/// (`harness_open_api/api_client.py` `ApiClient.__init__`).
fn account_of_key(key: &str) -> Option<&str> {
    let mut fields = key.splitn(4, '.');
    let kind = fields.next()?;
    let account = fields.next()?;
    let rest = [fields.next()?, fields.next()?];
    ((kind == "pat" || kind == "sat") && !account.is_empty() && rest.iter().all(|f| !f.is_empty()))
        .then_some(account)
}

impl Default for HarnessSimConfig {
    fn default() -> Self {
        let account_id = "sandbox_account".to_owned();
        Self {
            api_key: issue_api_key(&account_id),
            account_id,
            fixtures: HarnessFixtures::default(),
            faults: Faults::default(),
            service_account_levels: ServiceAccountLevels::default(),
            totals: true,
            hidden_principal_types: BTreeSet::new(),
        }
    }
}

/// Where an assignment lives: no org is the account, an org without project the org.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ScopeKey {
    org: Option<String>,
    project: Option<String>,
}

/// `HarnessScopeLevel` (`access-control/libs/core/.../scopes/HarnessScopeLevel.java`): its
/// lowercase name and rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Account,
    Organization,
    Project,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Organization => "organization",
            Self::Project => "project",
        }
    }

    /// `HarnessScopeLevel.valueOf(level.toUpperCase())`: any case.
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "ACCOUNT" => Some(Self::Account),
            "ORGANIZATION" => Some(Self::Organization),
            "PROJECT" => Some(Self::Project),
            _ => None,
        }
    }
}

impl ScopeKey {
    fn level(&self) -> Level {
        match (&self.org, &self.project) {
            (None, _) => Level::Account,
            (Some(_), None) => Level::Organization,
            (Some(_), Some(_)) => Level::Project,
        }
    }

    /// `Scope.toString()` (`access-control/libs/core/.../scopes/core/Scope.java`), e.g.
    /// `/ACCOUNT/acct/ORGANIZATION/default/PROJECT/payments`: what Harness's messages name.
    fn identifier(&self, account: &str) -> String {
        let mut id = format!("/ACCOUNT/{account}");
        if let Some(o) = &self.org {
            id.push_str(&format!("/ORGANIZATION/{o}"));
        }
        if let (Some(_), Some(p)) = (&self.org, &self.project) {
            id.push_str(&format!("/PROJECT/{p}"));
        }
        id
    }
}

#[derive(Clone, Debug)]
struct Record {
    body: Value,
    created: i64,
    updated: i64,
    /// Creation order, to break ties between equal timestamps.
    seq: u64,
}

impl Record {
    fn to_json(&self) -> Value {
        json!({
            "role-assignment": self.body,
            "created": self.created,
            "updated": self.updated,
            "harness_managed": false,
        })
    }

    fn identifier(&self) -> &str {
        self.body["identifier"].as_str().unwrap_or_default()
    }

    fn principal_type(&self) -> &str {
        self.body["principal"]["type"].as_str().unwrap_or_default()
    }

    /// The fields of `RoleAssignmentDBO`'s unique index `uniqueRoleAssignmentIndex` besides
    /// the scope: resource group, role, principal identifier, principal scope level as
    /// stored (null too), principal type
    /// (`access-control/libs/core/.../roleassignments/persistence/RoleAssignmentDBO.java`).
    fn grant(&self) -> String {
        let b = &self.body;
        format!(
            "{}|{}|{}|{}|{}",
            b["resource_group"].as_str().unwrap_or_default(),
            b["role"].as_str().unwrap_or_default(),
            b["principal"]["identifier"].as_str().unwrap_or_default(),
            b["principal"]["scope_level"],
            self.principal_type(),
        )
    }
}

#[derive(Default)]
struct ScopeStore {
    by_id: HashMap<String, Record>,
    grants: HashSet<String>,
}

impl ScopeStore {
    fn insert(&mut self, record: Record) {
        self.grants.insert(record.grant());
        self.by_id.insert(record.identifier().to_owned(), record);
    }

    fn remove(&mut self, identifier: &str) -> Option<Record> {
        let record = self.by_id.remove(identifier)?;
        self.grants.remove(&record.grant());
        Some(record)
    }
}

/// An NG API update (`PUT /authz/api/roleassignments/{id}`, `RoleAssignmentResourceImpl.update`)
/// that lands right after a list page was served.
struct PendingUpdate {
    scope: ScopeKey,
    identifier: String,
    disabled: bool,
}

struct Store {
    api_key: String,
    next_seq: u64,
    scopes: BTreeMap<ScopeKey, ScopeStore>,
    hidden: BTreeSet<PrincipalType>,
    after_next_page: Option<PendingUpdate>,
}

impl Store {
    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// A `lastModifiedAt` later than every other, so that the change sorts first even
    /// within one millisecond.
    fn later_than_all(&self) -> i64 {
        let latest = self
            .scopes
            .values()
            .flat_map(|s| s.by_id.values().map(|r| r.updated))
            .max()
            .unwrap_or(0);
        now_millis().max(latest + 1)
    }

    fn apply_update(&mut self, update: PendingUpdate) {
        let updated = self.later_than_all();
        if let Some(record) = self
            .scopes
            .get_mut(&update.scope)
            .and_then(|s| s.by_id.get_mut(&update.identifier))
        {
            record.body["disabled"] = json!(update.disabled);
            record.updated = updated;
        }
    }
}

struct Inner {
    account_id: String,
    fixtures: HarnessFixtures,
    service_account_levels: ServiceAccountLevels,
    totals: bool,
    store: Mutex<Store>,
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn scope_id(&self, scope: &ScopeKey) -> String {
        scope.identifier(&self.account_id)
    }

    fn scope_exists(&self, scope: &ScopeKey) -> bool {
        match (&scope.org, &scope.project) {
            (None, _) => true,
            (Some(o), None) => self.fixtures.orgs.contains(o),
            (Some(o), Some(p)) => self
                .fixtures
                .projects
                .iter()
                .any(|r| &r.org == o && &r.project == p),
        }
    }
}

/// An error as Harness's mappers write it. `ErrorDTO` (`970-ng-commons/.../ng/core/dto/ErrorDTO.java`,
/// via `WingsExceptionMapperV2`) for Harness's own exceptions; `FailureDTO` (`FailureDTO.java`)
/// where `960-ng-core-beans/.../exceptionmappers/NotFoundExceptionMapper.java` answers.
struct ApiError {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `ErrorDTO` with `code`; the HTTP status is the one `ErrorCode` gives that code
/// (`980-commons/.../eraro/ErrorCode.java`, BAD_REQUEST unless it names another).
fn error_dto(status: StatusCode, code: &str, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({
            "status": "ERROR",
            "code": code,
            "message": message,
            "correlationId": correlation_id(),
            "detailedMessage": null,
            "responseMessages": [],
            "metadata": null,
        }),
    }
}

/// What the shared fault layer answers with (429, injected 5xx, ...).
fn error_body(status: u16, message: &str) -> Value {
    let code = match status {
        401 => "INVALID_CREDENTIAL",
        403 => "ACCESS_DENIED",
        400 => "INVALID_REQUEST",
        429 => "TOO_MANY_REQUESTS",
        _ => "UNKNOWN_ERROR",
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_dto(status, code, message).body
}

/// `InvalidRequestException`: 400 `INVALID_REQUEST`.
fn invalid(message: &str) -> ApiError {
    error_dto(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

/// A GET or DELETE of an assignment that does not exist: the Impls throw
/// `javax.ws.rs.NotFoundException`, which `NotFoundExceptionMapper` answers with **400**.
fn not_found(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        body: json!({
            "status": "FAILURE",
            "code": "RESOURCE_NOT_FOUND_EXCEPTION",
            "message": message,
            "correlationId": correlation_id(),
            "errors": null,
        }),
    }
}

/// RAU `ROLE_ASSIGNMENT_DOES_NOT_EXISTS`.
const DOES_NOT_EXIST: &str = "Role Assignment with given identifier doesn't exists";

fn authorize(inner: &Inner, headers: &HeaderMap) -> Result<(), ApiError> {
    let store = inner.store();
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key.is_none_or(|k| k != store.api_key) {
        return Err(error_dto(
            StatusCode::UNAUTHORIZED,
            "INVALID_CREDENTIAL",
            "Invalid API token or the token has expired",
        ));
    }
    // Every Impl method takes the account from this header (SPEC `AccountHeader`); what
    // Harness answers when it names another account than the key's is not public, so the
    // simulator refuses it, catching a client that names the wrong account. Without the
    // header the key's own account is meant.
    let key_account = account_of_key(&store.api_key).unwrap_or(&inner.account_id);
    if let Some(account) = headers.get("harness-account")
        && account.to_str().ok() != Some(key_account)
    {
        return Err(error_dto(
            StatusCode::FORBIDDEN,
            "ACCESS_DENIED",
            "The API key does not belong to the account in the Harness-Account header",
        ));
    }
    Ok(())
}

fn string_field<'a>(body: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    body.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(&format!("{field}: must not be null")))
}

/// Validates a create body in the order the Impls' `create…RoleAssignments` and
/// `RoleAssignmentServiceImpl.create` do, and returns what Harness stores.
fn parse_create(inner: &Inner, scope: &ScopeKey, raw: &[u8]) -> Result<Value, ApiError> {
    let body: Value =
        serde_json::from_slice(raw).map_err(|_| invalid("Request body is not valid JSON"))?;
    // The SPEC requires these fields and sets no pattern on the identifier, so none is
    // checked here (rolesync's CRD checks its own).
    let identifier = string_field(&body, "identifier")?;
    let role = string_field(&body, "role")?;
    let resource_group = string_field(&body, "resource_group")?;
    let principal = body
        .get("principal")
        .filter(|p| p.is_object())
        .ok_or_else(|| invalid("principal: must not be null"))?;
    let kind: PrincipalType = string_field(principal, "type")?
        .parse()
        .map_err(|e: UnknownValue| invalid(&e.to_string()))?;
    let who = string_field(principal, "identifier")?;
    let sent_level = match principal.get("scope_level") {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) if l.is_empty() => None,
        Some(Value::String(l)) => Some(l.as_str()),
        Some(_) => return Err(invalid("principal.scope_level: must be a string")),
    };
    let disabled = match body.get("disabled") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("disabled: must be a boolean")),
    };

    // RAU `validateDeprecatedResourceGroupNotUsed`.
    if resource_group == "_all_resources" {
        return Err(invalid(
            "_all_resources is deprecated, please use _all_resources_including_child_scopes.",
        ));
    }
    let scope_level = scope.level();
    // RAU `validatePrincipalScopeLevelConditions`: any case; a level below the assignment's
    // own is refused. A text that names no level makes `HarnessScopeLevel.valueOf` throw an
    // IllegalArgumentException, which only `GenericExceptionMapperV2` catches: a 500.
    if let Some(text) = sent_level {
        let level = Level::parse(text).ok_or_else(|| {
            error_dto(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_ERROR",
                &format!(
                    "No enum constant HarnessScopeLevel.{}",
                    text.to_ascii_uppercase()
                ),
            )
        })?;
        if level > scope_level {
            return Err(invalid(&format!(
                "Principal scope level cannot be {text} for {} scoped role assignment.",
                scope_level.as_str()
            )));
        }
    }
    // RAU `buildRoleAssignmentWithPrincipalScopeLevel`: the level Harness stores.
    let stored_level: Option<String> = match kind {
        // "For principalType USER, principalScopeLevel should be always null."
        PrincipalType::User => None,
        PrincipalType::UserGroup => Some(
            sent_level
                .map(str::to_owned)
                .unwrap_or_else(|| scope_level.as_str().to_owned()),
        ),
        PrincipalType::ServiceAccount => match inner.service_account_levels {
            ServiceAccountLevels::Kept => Some(
                sent_level
                    .map(str::to_owned)
                    // The fixtures' service accounts live at the account, the first
                    // scope upwards from any other where `getServiceAccountScopeLevel`
                    // finds them.
                    .unwrap_or_else(|| Level::Account.as_str().to_owned()),
            ),
            ServiceAccountLevels::Forced => {
                // Compared as sent, with `String.equals`: "ACCOUNT" is not "account".
                if sent_level.is_some_and(|l| l != scope_level.as_str()) {
                    return Err(invalid(
                        "Cannot create role assignment for given Service Account. Principal should be of same scope as of role assignment.",
                    ));
                }
                Some(scope_level.as_str().to_owned())
            }
        },
    };

    // `RoleAssignmentServiceImpl.create` → `RoleAssignmentValidatorImpl`: scope, principal,
    // resource group, role, in this order, each an InvalidRequestException.
    let scope_id = inner.scope_id(scope);
    if !inner.scope_exists(scope) {
        return Err(invalid(&format!("Invalid scope {scope_id}")));
    }
    let principal_known = match kind {
        PrincipalType::User => inner.fixtures.users.iter().any(|u| u == who),
        PrincipalType::UserGroup => inner.fixtures.user_groups.iter().any(|g| g == who),
        PrincipalType::ServiceAccount => inner.fixtures.service_accounts.iter().any(|s| s == who),
    };
    if !principal_known {
        // `principals/{users/UserValidator,usergroups/UserGroupValidator,serviceaccounts/ServiceAccountValidator}.java`
        return Err(invalid(&match kind {
            PrincipalType::User => {
                format!("user not found with the given identifier {who} in the scope {scope_id}")
            }
            PrincipalType::UserGroup => format!(
                "user group not found with the given identifier {who} in the scope {scope_id}"
            ),
            PrincipalType::ServiceAccount => format!(
                "Service Account not found with the given identifier {who} in account {scope_id}"
            ),
        }));
    }
    if !inner
        .fixtures
        .resource_groups
        .iter()
        .any(|g| g == resource_group)
    {
        return Err(invalid(&format!(
            "Did not find resource group identifier in {scope_id}"
        )));
    }
    if !inner.fixtures.roles.iter().any(|r| r == role) {
        return Err(invalid(&format!("Did not find role in {scope_id}")));
    }

    let mut principal_out = json!({"identifier": who, "type": kind.as_str()});
    if let Some(level) = stored_level {
        principal_out["scope_level"] = json!(level);
    }
    // `RoleAssignmentDTOMapper.fromDTO(scope, dto)` stores `managed = false`.
    Ok(json!({
        "identifier": identifier,
        "resource_group": resource_group,
        "role": role,
        "principal": principal_out,
        "disabled": disabled,
        "managed": false,
    }))
}

fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn page_param(params: &HashMap<String, String>, name: &str, default: u64) -> Result<u64, ApiError> {
    params.get(name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| invalid(&format!("{name}: {v} is not a number")))
    })
}

fn header(n: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&n.to_string()).unwrap_or(HeaderValue::from_static("0"))
}

/// The order of a list page, as RAU `getPageRequest`/`getFieldName` build it: `sort` must be
/// exactly `identifier`, `created` or `updated`, else the order is `lastModifiedAt`
/// descending and `order` is ignored; `order` is read with
/// `EnumUtils.getEnum(SortOrder.OrderType.class, order, DESC)`, so only `ASC` (exactly)
/// ascends (`980-commons/.../beans/SortOrder.java` `enum OrderType {ASC, DESC}`).
fn sort_records(records: &mut [&Record], params: &HashMap<String, String>) {
    let ascending = params.get("order").is_some_and(|o| o == "ASC");
    match params.get("sort").map(String::as_str) {
        Some("identifier") => records.sort_by(|a, b| a.identifier().cmp(b.identifier())),
        Some("created") => records.sort_by_key(|r| (r.created, r.seq)),
        Some("updated") => records.sort_by_key(|r| (r.updated, r.seq)),
        _ => {
            records.sort_by_key(|r| std::cmp::Reverse((r.updated, r.seq)));
            return;
        }
    }
    if !ascending {
        records.reverse();
    }
}

/// The pre-2023-02 headers of a list (`RoleAssignmentApiUtils.addLinksHeader` at commit
/// 1239b0b087b): self, previous from page 1 on, next when the page is full.
fn link_header(path: &str, page: u64, limit: u64, served: usize) -> HeaderValue {
    let link = |p: u64, rel: &str| format!("<{path}?page={p}&page_size={limit}>; rel=\"{rel}\"");
    let mut links = vec![link(page, "self")];
    if page >= 1 {
        links.push(link(page - 1, "previous"));
    }
    if u64::try_from(served).is_ok_and(|s| s == limit) {
        links.push(link(page + 1, "next"));
    }
    HeaderValue::from_str(&links.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

/// A list's `page` (from 0) and `limit`, within the bounds the SPEC's generated resources
/// validate.
struct Paging {
    page: u64,
    limit: u64,
}

impl Paging {
    fn of(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        let page = page_param(params, "page", 0)?;
        let limit = page_param(params, "limit", DEFAULT_LIMIT)?;
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(invalid("limit: must be between 1 and 100"));
        }
        Ok(Self { page, limit })
    }

    /// This page of `all`.
    fn slice<T>(&self, all: impl IntoIterator<Item = T>) -> impl Iterator<Item = T> {
        all.into_iter()
            .skip(usize::try_from(self.page.saturating_mul(self.limit)).unwrap_or(usize::MAX))
            .take(usize::try_from(self.limit).unwrap_or(usize::MAX))
    }

    /// The page as Harness answers it: a bare array, with the totals headers or, before
    /// 2023-02, the `Link` header.
    fn response(&self, inner: &Inner, path: &str, total: usize, items: Vec<Value>) -> Response {
        let served = items.len();
        let mut response = axum::Json(Value::Array(items)).into_response();
        let h = response.headers_mut();
        if inner.totals {
            h.insert("X-Total-Elements", header(total));
            h.insert("X-Page-Number", header(self.page));
            h.insert("X-Page-Size", header(self.limit));
        } else {
            h.insert("Link", link_header(path, self.page, self.limit, served));
        }
        response
    }
}

async fn list(
    inner: &Inner,
    headers: &HeaderMap,
    path: &str,
    scope: ScopeKey,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let paging = Paging::of(params)?;
    let mut store = inner.store();
    // Impl `get…RoleAssignments`: only the principal types the key may view; none is an
    // UnauthorizedException with USER_NOT_AUTHORIZED, whose ErrorCode names no status: 400.
    let visible: Vec<&str> = PrincipalType::ALL
        .into_iter()
        .filter(|t| !store.hidden.contains(t))
        .map(PrincipalType::as_str)
        .collect();
    if visible.is_empty() {
        return Err(error_dto(
            StatusCode::BAD_REQUEST,
            "USER_NOT_AUTHORIZED",
            "Current principal is not authorized to the view the role assignments",
        ));
    }
    // An unknown scope is not an error here: the list filters by scope identifier.
    let mut records: Vec<&Record> = store
        .scopes
        .get(&scope)
        .map(|s| {
            s.by_id
                .values()
                .filter(|r| visible.contains(&r.principal_type()))
                .collect()
        })
        .unwrap_or_default();
    sort_records(&mut records, params);
    let total = records.len();
    let items: Vec<Value> = paging.slice(records).map(Record::to_json).collect();
    if let Some(update) = store.after_next_page.take() {
        store.apply_update(update);
    }
    drop(store);
    Ok(paging.response(inner, path, total, items))
}

/// `GET /v1/orgs` and `GET /v1/orgs/{org}/projects`: the organizations of the account and
/// the projects of one, as Harness's v1 API lists them (harness-openapi-go-client
/// `nextgen/docs/OrganizationApi.md` `GetOrganizations` and `OrgProjectApi.md`
/// `GetOrgScopedProjects`): a bare array of `{org: Organization}` / `{project: Project}`
/// responses with `created`, `updated` and `harness_managed`, paged by `page` (from 0) and
/// `limit` (default 30) and sorted by `sort`/`order` as the assignment lists are, with the
/// same totals headers. The projects of an organization that does not exist are none.
async fn list_entities(
    inner: &Inner,
    headers: &HeaderMap,
    path: &str,
    field: &str,
    org: Option<&str>,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let paging = Paging::of(params)?;
    let f = &inner.fixtures;
    let mut entities: Vec<Value> = match org {
        None => f
            .orgs
            .iter()
            .map(|o| json!({"identifier": o, "name": o, "description": "", "tags": {}}))
            .collect(),
        Some(org) => f
            .projects
            .iter()
            .filter(|p| p.org == org)
            .map(|p| json!({"identifier": p.project, "org": p.org, "name": p.project, "color": "#0063f7", "modules": [], "description": "", "tags": {}}))
            .collect(),
    };
    let key = |e: &Value| e["identifier"].as_str().unwrap_or_default().to_owned();
    entities.sort_by_key(key);
    if params.get("order").is_none_or(|o| o != "ASC") {
        entities.reverse();
    }
    let total = entities.len();
    let items: Vec<Value> = paging
        .slice(entities)
        .map(|e| json!({field: e, "created": 1_700_000_000_000_i64, "updated": 1_700_000_000_000_i64, "harness_managed": false}))
        .collect();
    Ok(paging.response(inner, path, total, items))
}

async fn create(
    inner: &Inner,
    headers: &HeaderMap,
    scope: ScopeKey,
    body: &[u8],
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let assignment = parse_create(inner, &scope, body)?;
    let json = insert(inner, scope, assignment)?;
    Ok((StatusCode::CREATED, axum::Json(json)).into_response())
}

/// Stores a validated assignment; a second one with the same identifier or grant in the
/// scope is refused. `RoleAssignmentDaoImpl.create` answers any `DuplicateKeyException`
/// with one message, whichever unique index refused it.
fn insert(inner: &Inner, scope: ScopeKey, assignment: Value) -> Result<Value, ApiError> {
    let scope_id = inner.scope_id(&scope);
    let now = now_millis();
    let mut store = inner.store();
    let seq = store.next_seq();
    let record = Record {
        body: assignment,
        created: now,
        updated: now,
        seq,
    };
    let scoped = store.scopes.entry(scope).or_default();
    if scoped.by_id.contains_key(record.identifier()) || scoped.grants.contains(&record.grant()) {
        return Err(error_dto(
            StatusCode::BAD_REQUEST,
            "DUPLICATE_FIELD",
            &format!(
                "A role assignment with the same resource group, role and principal is already present in the scope {scope_id}"
            ),
        ));
    }
    let json = record.to_json();
    scoped.insert(record);
    Ok(json)
}

async fn get_one(
    inner: &Inner,
    headers: &HeaderMap,
    scope: ScopeKey,
    id: &str,
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let store = inner.store();
    let record = store
        .scopes
        .get(&scope)
        .and_then(|s| s.by_id.get(id))
        .ok_or_else(|| not_found(DOES_NOT_EXIST))?;
    if store
        .hidden
        .iter()
        .any(|t| t.as_str() == record.principal_type())
    {
        return Err(error_dto(
            StatusCode::BAD_REQUEST,
            "USER_NOT_AUTHORIZED",
            &format!(
                "Current principal is not authorized to the view the role assignments for Principal Type {}",
                record.principal_type()
            ),
        ));
    }
    Ok(axum::Json(record.to_json()).into_response())
}

async fn delete_one(
    inner: &Inner,
    headers: &HeaderMap,
    scope: ScopeKey,
    id: &str,
) -> Result<Response, ApiError> {
    authorize(inner, headers)?;
    let removed = inner
        .store()
        .scopes
        .get_mut(&scope)
        .and_then(|s| s.remove(id));
    match removed {
        // `Response.ok().entity(response)`: 200 with the deleted assignment.
        Some(r) => Ok(axum::Json(r.to_json()).into_response()),
        None => Err(not_found(DOES_NOT_EXIST)),
    }
}

type Params = Query<HashMap<String, String>>;
type Shared = State<Arc<Inner>>;

fn account() -> ScopeKey {
    ScopeKey {
        org: None,
        project: None,
    }
}

fn org(org: String) -> ScopeKey {
    ScopeKey {
        org: Some(org),
        project: None,
    }
}

fn project(org: String, project: String) -> ScopeKey {
    ScopeKey {
        org: Some(org),
        project: Some(project),
    }
}

fn collection(scope: &ScopeKey) -> String {
    match (&scope.org, &scope.project) {
        (None, _) => "/v1/role-assignments".to_owned(),
        (Some(o), None) => format!("/v1/orgs/{o}/role-assignments"),
        (Some(o), Some(p)) => format!("/v1/orgs/{o}/projects/{p}/role-assignments"),
    }
}

async fn list_in(
    i: &Inner,
    h: &HeaderMap,
    scope: ScopeKey,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let path = collection(&scope);
    list(i, h, &path, scope, q).await
}

fn routes() -> Router<Arc<Inner>> {
    Router::new()
        .route(
            "/v1/orgs",
            get(|State(i): Shared, h: HeaderMap, Query(q): Params| async move {
                list_entities(&i, &h, "/v1/orgs", "org", None, &q).await
            }),
        )
        .route(
            "/v1/orgs/{org}/projects",
            get(|State(i): Shared, h: HeaderMap, Path(o): Path<String>, Query(q): Params| async move {
                let path = format!("/v1/orgs/{o}/projects");
                list_entities(&i, &h, &path, "project", Some(&o), &q).await
            }),
        )
        .route(
            "/v1/role-assignments",
            get(|State(i): Shared, h: HeaderMap, Query(q): Params| async move {
                list_in(&i, &h, account(), &q).await
            })
            .post(|State(i): Shared, h: HeaderMap, b: Bytes| async move {
                create(&i, &h, account(), &b).await
            }),
        )
        .route(
            "/v1/role-assignments/{id}",
            get(|State(i): Shared, h: HeaderMap, Path(id): Path<String>| async move {
                get_one(&i, &h, account(), &id).await
            })
            .delete(|State(i): Shared, h: HeaderMap, Path(id): Path<String>| async move {
                delete_one(&i, &h, account(), &id).await
            }),
        )
        .route(
            "/v1/orgs/{org}/role-assignments",
            get(|State(i): Shared, h: HeaderMap, Path(o): Path<String>, Query(q): Params| async move {
                list_in(&i, &h, org(o), &q).await
            })
            .post(|State(i): Shared, h: HeaderMap, Path(o): Path<String>, b: Bytes| async move {
                create(&i, &h, org(o), &b).await
            }),
        )
        .route(
            "/v1/orgs/{org}/role-assignments/{id}",
            get(|State(i): Shared, h: HeaderMap, Path((o, id)): Path<(String, String)>| async move {
                get_one(&i, &h, org(o), &id).await
            })
            .delete(|State(i): Shared, h: HeaderMap, Path((o, id)): Path<(String, String)>| async move {
                delete_one(&i, &h, org(o), &id).await
            }),
        )
        .route(
            "/v1/orgs/{org}/projects/{project}/role-assignments",
            get(|State(i): Shared, h: HeaderMap, Path((o, p)): Path<(String, String)>, Query(q): Params| async move {
                list_in(&i, &h, project(o, p), &q).await
            })
            .post(|State(i): Shared, h: HeaderMap, Path((o, p)): Path<(String, String)>, b: Bytes| async move {
                create(&i, &h, project(o, p), &b).await
            }),
        )
        .route(
            "/v1/orgs/{org}/projects/{project}/role-assignments/{id}",
            get(|State(i): Shared, h: HeaderMap, Path((o, p, id)): Path<(String, String, String)>| async move {
                get_one(&i, &h, project(o, p), &id).await
            })
            .delete(|State(i): Shared, h: HeaderMap, Path((o, p, id)): Path<(String, String, String)>| async move {
                delete_one(&i, &h, project(o, p), &id).await
            }),
        )
}

/// A running Harness simulator.
pub struct HarnessSim {
    server: SimServer,
    inner: Arc<Inner>,
}

fn scope_key(org: Option<&str>, project: Option<&str>) -> ScopeKey {
    ScopeKey {
        org: org.map(str::to_owned),
        project: project.map(str::to_owned),
    }
}

impl HarnessSim {
    pub async fn start(config: HarnessSimConfig) -> std::io::Result<HarnessSim> {
        let inner = Arc::new(Inner {
            account_id: config.account_id,
            fixtures: config.fixtures,
            service_account_levels: config.service_account_levels,
            totals: config.totals,
            store: Mutex::new(Store {
                api_key: config.api_key,
                next_seq: 0,
                scopes: BTreeMap::new(),
                hidden: config.hidden_principal_types,
                after_next_page: None,
            }),
        });
        let router = routes().with_state(inner.clone());
        // Harness's 429s come without Retry-After: "Retry-After in the 429 error responses
        // is not currently supported by Google Cloud Armor"
        // (https://developer.harness.io/docs/platform/rate-limits/).
        let server =
            SimServer::start_without_retry_after(router, config.faults, error_body).await?;
        Ok(HarnessSim { server, inner })
    }

    /// What a ProviderConfig's endpoint would hold: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    pub fn account_id(&self) -> &str {
        &self.inner.account_id
    }

    /// Rotates the accepted key; the old one is refused from now on.
    pub fn set_api_key(&self, key: &str) {
        self.inner.store().api_key = key.to_owned();
    }

    /// The principal types the key may no longer view (replacing the earlier set).
    pub fn set_hidden_principal_types(&self, hidden: impl IntoIterator<Item = PrincipalType>) {
        self.inner.store().hidden = hidden.into_iter().collect();
    }

    /// Every assignment as the API would return it, plus its scope as `org` and `project`
    /// (null at the account), ordered by scope and creation.
    pub fn assignments(&self) -> Vec<Value> {
        let store = self.inner.store();
        store
            .scopes
            .iter()
            .flat_map(|(scope, s)| {
                let mut records: Vec<&Record> = s.by_id.values().collect();
                records.sort_by_key(|r| r.seq);
                records.into_iter().map(move |r| {
                    let mut v = r.to_json();
                    v["org"] = json!(scope.org);
                    v["project"] = json!(scope.project);
                    v
                })
            })
            .collect()
    }

    /// An assignment someone else made, given as a v1 create body; validated and stored as
    /// a create is.
    pub fn insert_assignment(
        &self,
        org: Option<&str>,
        project: Option<&str>,
        body: Value,
    ) -> Result<(), String> {
        let reason = |e: ApiError| e.body["message"].as_str().unwrap_or_default().to_owned();
        let scope = scope_key(org, project);
        let assignment =
            parse_create(&self.inner, &scope, body.to_string().as_bytes()).map_err(reason)?;
        insert(&self.inner, scope, assignment)
            .map(drop)
            .map_err(reason)
    }

    /// Someone deleted an assignment; false when it did not exist.
    pub fn remove_assignment(
        &self,
        org: Option<&str>,
        project: Option<&str>,
        identifier: &str,
    ) -> bool {
        self.inner
            .store()
            .scopes
            .get_mut(&scope_key(org, project))
            .and_then(|s| s.remove(identifier))
            .is_some()
    }

    /// Someone sets `disabled` of an assignment through Harness's NG API
    /// (`RoleAssignmentResourceImpl.update`) right after the next list page is served:
    /// its `lastModifiedAt` (`RoleAssignmentDBO`, `@LastModifiedDate`) becomes the latest,
    /// which moves it to the front of the default order while a client pages.
    pub fn update_after_next_list_page(
        &self,
        org: Option<&str>,
        project: Option<&str>,
        identifier: &str,
        disabled: bool,
    ) {
        self.inner.store().after_next_page = Some(PendingUpdate {
            scope: scope_key(org, project),
            identifier: identifier.to_owned(),
            disabled,
        });
    }

    pub fn requests(&self) -> Vec<RequestLog> {
        self.server.requests()
    }

    pub fn faults(&self) -> &Faults {
        self.server.faults()
    }

    pub fn fixtures(&self) -> &HarnessFixtures {
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
    fn keys_name_their_account_as_the_sdk_reads_it() {
        let key = issue_api_key("acct_1");
        assert_eq!(account_of_key(&key), Some("acct_1"));
        let secret = key.rsplit('.').next().unwrap_or_default();
        assert_eq!(secret.len(), 20);
        assert!(secret.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(account_of_key("sat.acct_2.tok.secret"), Some("acct_2"));
        for other in ["harness-key", "pat.acct", "pat..tok.s", "xyz.acct.tok.s"] {
            assert_eq!(account_of_key(other), None, "{other}");
        }
    }

    #[test]
    fn readings_parse_from_their_flag_values() {
        for r in [ServiceAccountLevels::Kept, ServiceAccountLevels::Forced] {
            assert_eq!(r.to_string().parse(), Ok(r));
        }
        assert!("Kept".parse::<ServiceAccountLevels>().is_err());
        assert_eq!("USER_GROUP".parse(), Ok(PrincipalType::UserGroup));
        assert!("user".parse::<PrincipalType>().is_err());
    }

    #[test]
    fn scope_identifiers_are_harness_scope_paths() {
        let project = scope_key(Some("o"), Some("p"));
        assert_eq!(
            project.identifier("a"),
            "/ACCOUNT/a/ORGANIZATION/o/PROJECT/p"
        );
        assert_eq!(project.level(), Level::Project);
        assert_eq!(scope_key(None, None).identifier("a"), "/ACCOUNT/a");
        assert_eq!(Level::parse("Organization"), Some(Level::Organization));
        assert_eq!(Level::parse("org"), None);
    }

    fn record(id: &str, created: i64, updated: i64, seq: u64) -> Record {
        Record {
            body: json!({"identifier": id}),
            created,
            updated,
            seq,
        }
    }

    fn order(params: &[(&str, &str)]) -> Vec<String> {
        let records = [
            record("b", 1, 5, 1),
            record("c", 2, 2, 2),
            record("a", 3, 3, 3),
        ];
        let mut refs: Vec<&Record> = records.iter().collect();
        let params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        sort_records(&mut refs, &params);
        refs.iter().map(|r| r.identifier().to_owned()).collect()
    }

    #[test]
    fn lists_sort_as_harness_does() {
        // Default: lastModifiedAt descending.
        assert_eq!(order(&[]), ["b", "a", "c"]);
        assert_eq!(
            order(&[("sort", "identifier"), ("order", "ASC")]),
            ["a", "b", "c"]
        );
        // Only "ASC" ascends; anything else, "asc" too, is descending.
        assert_eq!(
            order(&[("sort", "identifier"), ("order", "asc")]),
            ["c", "b", "a"]
        );
        assert_eq!(order(&[("sort", "identifier")]), ["c", "b", "a"]);
        assert_eq!(
            order(&[("sort", "created"), ("order", "ASC")]),
            ["b", "c", "a"]
        );
        assert_eq!(
            order(&[("sort", "updated"), ("order", "ASC")]),
            ["c", "a", "b"]
        );
        // An unknown sort (`name` is in the SPEC, not in the code) ignores `order`.
        assert_eq!(
            order(&[("sort", "name"), ("order", "ASC")]),
            ["b", "a", "c"]
        );
        assert_eq!(
            order(&[("sort", "IDENTIFIER"), ("order", "ASC")]),
            ["b", "a", "c"]
        );
    }

    #[test]
    fn links_without_totals_name_self_previous_and_next() {
        let full = link_header("/v1/role-assignments", 1, 2, 2);
        assert_eq!(
            full.to_str().unwrap_or_default(),
            "</v1/role-assignments?page=1&page_size=2>; rel=\"self\", </v1/role-assignments?page=0&page_size=2>; rel=\"previous\", </v1/role-assignments?page=2&page_size=2>; rel=\"next\""
        );
        let short = link_header("/v1/role-assignments", 0, 2, 1);
        assert_eq!(
            short.to_str().unwrap_or_default(),
            "</v1/role-assignments?page=0&page_size=2>; rel=\"self\""
        );
    }
}
