//! Harness Platform role assignments (the v1 API: `/v1/role-assignments` at account scope,
//! `/v1/orgs/{org}/...` and `/v1/orgs/{org}/projects/{project}/...` below it).
//!
//! Harness has no update: a changed role, resource group or principal is a new assignment.
//! rolesync names what it creates with an identifier derived from what is assigned, so the
//! new assignment can exist next to the old one during a replacement, and an operator that
//! restarts after a lost status write asks for the very same identifier again.
//! Observations answer from one paged list per scope, cached per client.

mod connector;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::cache::{Change, Collection, ListCache};
use super::http::{ApiRequest, AuthHeader, HttpClient, HttpSettings, RateLimit};
use super::{
    Deletion, Difference, ExternalId, Freshness, Listed, Observed, Provider, ProviderError, or_none,
};
use crate::api::{HarnessAssignmentSpec, HarnessPrincipalSpec};

pub const DEFAULT_ENDPOINT: &str = "https://app.harness.io";
const PROVIDER: &str = "harness";
/// The largest page Harness serves.
const PAGE_SIZE: u64 = 100;
/// A list larger than this many pages means the server's totals cannot be trusted.
const MAX_PAGES: u64 = 10_000;
/// How often a list that shrank under us is read again before giving up for now.
const LIST_ATTEMPTS: u32 = 3;
const TOTAL_ELEMENTS: &str = "x-total-elements";
/// What rolesync's own identifiers start with.
const IDENTIFIER_PREFIX: &str = "rolesync_";

/// Harness's strictest published limit: "External API requests: 400 calls per minute per
/// X-API-Key" (https://developer.harness.io/docs/platform/rate-limits/; the other, 1000
/// requests per API key per minute, is looser).
pub const PUBLISHED_REQUESTS_PER_MINUTE: u32 = 400;

/// 380 a minute with a burst of 10. Read strictly, as any sliding minute: a full burst
/// followed by a minute at the steady rate sends burst + rate - 1 = 389 requests, leaving
/// 11 for requests that reach Harness closer together than they were sent.
pub fn default_rate_limit() -> RateLimit {
    RateLimit {
        requests_per_minute: NonZeroU32::new(380).unwrap_or(NonZeroU32::MIN),
        burst: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
    }
}

/// A Harness identifier (`^[a-zA-Z_][0-9a-zA-Z_]{0,127}$`): of an org, project, role,
/// resource group or role assignment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(String);

/// Text that is not a Harness identifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a Harness identifier (a letter or '_' followed by up to 127 letters, digits or '_')"
)]
pub struct InvalidIdentifier(pub String);

/// Harness's identifier rule, as a JSON-schema pattern.
pub const IDENTIFIER_PATTERN: &str = "^[a-zA-Z_][0-9a-zA-Z_]{0,127}$";

impl Identifier {
    pub fn parse(text: &str) -> Result<Self, InvalidIdentifier> {
        let mut chars = text.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && text.len() <= 128;
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidIdentifier(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an assignment lives. No org and no project means the account itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Account,
    Org(Identifier),
    Project {
        org: Identifier,
        project: Identifier,
    },
}

impl Scope {
    /// The scope's level, as a principal's scope level names it.
    pub fn level(&self) -> ScopeLevel {
        match self {
            Self::Account => ScopeLevel::Account,
            Self::Org(_) => ScopeLevel::Organization,
            Self::Project { .. } => ScopeLevel::Project,
        }
    }

    /// The collection path of the scope's role assignments.
    fn collection(&self) -> String {
        match self {
            Self::Account => "/v1/role-assignments".to_owned(),
            Self::Org(org) => format!("/v1/orgs/{org}/role-assignments"),
            Self::Project { org, project } => {
                format!("/v1/orgs/{org}/projects/{project}/role-assignments")
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Account => f.write_str("account"),
            Self::Org(org) => write!(f, "org={org}"),
            Self::Project { org, project } => write!(f, "org={org},project={project}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrincipalType {
    User,
    UserGroup,
    ServiceAccount,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::UserGroup => "USER_GROUP",
            Self::ServiceAccount => "SERVICE_ACCOUNT",
        }
    }
}

/// The scope a principal (user group, service account) is defined at; declared from the
/// top down, so that a deeper level compares greater.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ScopeLevel {
    Account,
    Organization,
    Project,
}

impl ScopeLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Organization => "organization",
            Self::Project => "project",
        }
    }
}

/// Who holds the role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    pub kind: PrincipalType,
    pub identifier: String,
    /// The level asked for; `None` leaves it to Harness. What Harness stores instead is
    /// [`Principal::stored_level`].
    pub scope_level: Option<ScopeLevel>,
}

impl Principal {
    /// The level Harness stores for this principal in an assignment at `scope`, where that
    /// follows from the request alone (Harness's `RoleAssignmentApiUtils.
    /// buildRoleAssignmentWithPrincipalScopeLevel`): a USER's is always null, whatever was
    /// sent; a USER_GROUP's the level sent, else the assignment's own. A SERVICE_ACCOUNT's is
    /// the level sent (forced to be the assignment's own between late 2022 and October 2023,
    /// when any other was refused); unset, it is where the account lives, which rolesync
    /// cannot know: `None`, matching whatever level Harness reports.
    pub fn stored_level(&self, scope: &Scope) -> Option<ScopeLevel> {
        match self.kind {
            PrincipalType::User => None,
            PrincipalType::UserGroup => Some(self.scope_level.unwrap_or(scope.level())),
            PrincipalType::ServiceAccount => self.scope_level,
        }
    }

    /// Whether `remote` is this principal as Harness stores it in an assignment at `scope`.
    /// Harness parses levels in any case and stores them as sent.
    fn matches(&self, scope: &Scope, remote: &RemotePrincipal) -> bool {
        self.kind.as_str() == remote.kind
            && self.identifier == remote.identifier
            && self.stored_level(scope).is_none_or(|l| {
                remote
                    .scope_level
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(l.as_str()))
            })
    }
}

/// What a RoleAssignment wants in Harness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub scope: Scope,
    pub role: Identifier,
    pub resource_group: Identifier,
    pub principal: Principal,
    pub disabled: bool,
    /// The identifier a create uses.
    pub identifier: Identifier,
}

impl Assignment {
    /// `identifier = None` names the assignment after what it grants ([`default_identifier`]).
    pub fn new(
        scope: Scope,
        role: Identifier,
        resource_group: Identifier,
        principal: Principal,
        disabled: bool,
        identifier: Option<Identifier>,
    ) -> Self {
        let identifier = identifier.unwrap_or_else(|| {
            default_identifier(&scope, &resource_group, &role, &principal, disabled)
        });
        Self {
            scope,
            role,
            resource_group,
            principal,
            disabled,
            identifier,
        }
    }

    /// Whether a remote assignment grants this role on this resource group to this principal.
    fn same_grant(&self, remote: &RemoteAssignment) -> bool {
        self.role.as_str() == remote.role
            && self.resource_group.as_str() == remote.resource_group
            && self.principal.matches(&self.scope, &remote.principal)
    }

    fn is_met_by(&self, remote: &RemoteAssignment) -> bool {
        self.differences(remote).is_empty()
    }

    /// How `remote` differs from this assignment: what [`Self::same_grant`] compares, and
    /// whether it is disabled.
    fn differences(&self, remote: &RemoteAssignment) -> Vec<Difference> {
        let principal = (!self.principal.matches(&self.scope, &remote.principal)).then(|| {
            let want = &self.principal;
            let level = want.stored_level(&self.scope).map(ScopeLevel::as_str);
            Difference::new(
                "principal",
                format!(
                    "{}:{}@{}",
                    remote.principal.kind,
                    remote.principal.identifier,
                    or_none(remote.principal.scope_level.as_deref())
                ),
                format!(
                    "{}:{}@{}",
                    want.kind.as_str(),
                    want.identifier,
                    or_none(level)
                ),
            )
        });
        [
            Difference::of("role", &remote.role, &self.role),
            Difference::of(
                "resourceGroup",
                &remote.resource_group,
                &self.resource_group,
            ),
            principal,
            Difference::of("disabled", remote.disabled.unwrap_or(false), self.disabled),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// 64-bit FNV-1a: tiny, and stable across processes and versions (unlike std's hasher).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `rolesync_` + a hash of (scope, resource group, role, principal): the same grant always
/// gets the same identifier, a different grant (e.g. a new role) a different one. The
/// principal's level is the one Harness stores ([`Principal::stored_level`]), so that two
/// specs Harness cannot tell apart share an identifier (a USER's level changes nothing; a
/// USER_GROUP's left unset is its assignment's scope). A disabled grant is named apart too,
/// so that its replacement after a toggle never shares the identifier of the assignment
/// the controller deletes afterwards.
pub fn default_identifier(
    scope: &Scope,
    resource_group: &Identifier,
    role: &Identifier,
    principal: &Principal,
    disabled: bool,
) -> Identifier {
    // Fields are separated by a byte no identifier contains, so no two tuples collide by concatenation.
    let mut canonical = [
        scope.to_string().as_str(),
        resource_group.as_str(),
        role.as_str(),
        principal.kind.as_str(),
        principal.identifier.as_str(),
        principal.stored_level(scope).map_or("", ScopeLevel::as_str),
    ]
    .join("\u{1f}");
    if disabled {
        canonical.push_str("\u{1f}disabled");
    }
    Identifier(format!(
        "{IDENTIFIER_PREFIX}{:016x}",
        fnv1a(canonical.as_bytes())
    ))
}

/// A principal as Harness reports it; the type stays a string so unknown kinds still list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RemotePrincipal {
    identifier: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope_level: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RemoteAssignment {
    identifier: String,
    resource_group: String,
    role: String,
    principal: RemotePrincipal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    managed: Option<bool>,
    #[serde(
        default,
        rename = "roleReference",
        skip_serializing_if = "Option::is_none"
    )]
    role_reference: Option<serde_json::Value>,
}

/// `RoleAssignmentResponse`: the assignment plus Harness's bookkeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Response {
    #[serde(rename = "role-assignment")]
    assignment: RemoteAssignment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    harness_managed: Option<bool>,
}

impl Response {
    fn observed(&self, want: &Assignment) -> Observed {
        Observed {
            external_id: ExternalId::new(self.assignment.identifier.clone()),
            at_provider: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
            differences: want.differences(&self.assignment),
            role_name: None,
        }
    }
}

#[derive(Serialize)]
struct CreateBody<'a> {
    identifier: &'a str,
    resource_group: &'a str,
    role: &'a str,
    principal: CreatePrincipal<'a>,
    disabled: bool,
}

#[derive(Serialize)]
struct CreatePrincipal<'a> {
    identifier: &'a str,
    #[serde(rename = "type")]
    kind: PrincipalType,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope_level: Option<ScopeLevel>,
}

impl<'a> CreateBody<'a> {
    fn of(want: &'a Assignment) -> Self {
        Self {
            identifier: want.identifier.as_str(),
            resource_group: want.resource_group.as_str(),
            role: want.role.as_str(),
            principal: CreatePrincipal {
                identifier: &want.principal.identifier,
                kind: want.principal.kind,
                // What Harness would store, where known: it then has nothing to fill in (a
                // USER's level is never sent, as Harness drops it).
                scope_level: want.principal.stored_level(&want.scope),
            },
            disabled: want.disabled,
        }
    }
}

/// What makes two assignments the same grant, save the principal's scope level (matched apart).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct GrantKey {
    resource_group: String,
    role: String,
    principal_kind: String,
    principal: String,
}

impl GrantKey {
    fn of_remote(a: &RemoteAssignment) -> Self {
        Self {
            resource_group: a.resource_group.clone(),
            role: a.role.clone(),
            principal_kind: a.principal.kind.clone(),
            principal: a.principal.identifier.clone(),
        }
    }

    fn of_want(w: &Assignment) -> Self {
        Self {
            resource_group: w.resource_group.as_str().to_owned(),
            role: w.role.as_str().to_owned(),
            principal_kind: w.principal.kind.as_str().to_owned(),
            principal: w.principal.identifier.clone(),
        }
    }
}

/// One scope's assignments, indexed by identifier and by grant.
#[derive(Default)]
struct Index {
    by_id: HashMap<String, Response>,
    by_grant: HashMap<GrantKey, BTreeSet<String>>,
}

impl Index {
    /// The assignment granting what `want` grants, preferring one that fully matches
    /// (others may have made look-alikes), then the lowest identifier.
    fn find(&self, want: &Assignment) -> Option<&Response> {
        let candidates: Vec<&Response> = self
            .by_grant
            .get(&GrantKey::of_want(want))?
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .filter(|r| want.same_grant(&r.assignment))
            .collect();
        candidates
            .iter()
            .find(|r| want.is_met_by(&r.assignment))
            .or_else(|| candidates.first())
            .copied()
    }
}

impl Collection for Index {
    type Item = Response;
    type Key = String;

    fn upsert(&mut self, item: Response) {
        let id = item.assignment.identifier.clone();
        self.remove(&id);
        self.by_grant
            .entry(GrantKey::of_remote(&item.assignment))
            .or_default()
            .insert(id.clone());
        self.by_id.insert(id, item);
    }

    fn remove(&mut self, id: &String) {
        if let Some(old) = self.by_id.remove(id) {
            let key = GrantKey::of_remote(&old.assignment);
            if let Some(ids) = self.by_grant.get_mut(&key) {
                ids.remove(id);
                if ids.is_empty() {
                    self.by_grant.remove(&key);
                }
            }
        }
    }
}

/// The fields of Harness's error bodies: NG `{status, code, message, correlationId}` and
/// v1 `{code, message, details}`.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
    #[serde(rename = "correlationId")]
    correlation_id: Option<String>,
    details: Option<serde_json::Value>,
}

/// What a key lacks when Harness answers `USER_NOT_AUTHORIZED` to a list.
const VIEW_PERMISSION_HINT: &str =
    "the API key needs view permission on users, user groups and service accounts";

/// Reads a Harness error body into one line: `CODE: message [correlation id]`.
fn error_message(body: &[u8]) -> Option<String> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let mut text = parsed.message?;
    // A list refused this way means the key may view no principal type at all (Harness's
    // `…RoleAssignmentsApiImpl.get…RoleAssignments`).
    if parsed.code.as_deref() == Some("USER_NOT_AUTHORIZED") {
        text = format!("{text}; {VIEW_PERMISSION_HINT}");
    }
    if let Some(code) = parsed.code {
        text = format!("{code}: {text}");
    }
    if let Some(details) = parsed.details.filter(|d| !d.is_null()) {
        text.push_str(&format!(" ({details})"));
    }
    if let Some(id) = parsed.correlation_id {
        text.push_str(&format!(" [correlation {id}]"));
    }
    Some(text)
}

/// Harness refuses a second assignment with the same identifier or grant with 400
/// `DUPLICATE_FIELD` (`RoleAssignmentDaoImpl.create`); a 409 is taken the same way.
fn is_duplicate(e: &ProviderError) -> bool {
    match e {
        ProviderError::Conflict { .. } => true,
        ProviderError::Rejected { message, .. } => message.starts_with("DUPLICATE_FIELD"),
        _ => false,
    }
}

/// Harness answers a GET or DELETE of an assignment that is not there with 400
/// `RESOURCE_NOT_FOUND_EXCEPTION` (its `NotFoundExceptionMapper` maps `NotFoundException`
/// to 400); a 404 is taken the same way.
fn is_gone(e: &ProviderError) -> bool {
    match e {
        ProviderError::NotFound { .. } => true,
        ProviderError::Rejected { message, .. } => {
            message.starts_with("RESOURCE_NOT_FOUND_EXCEPTION")
        }
        _ => false,
    }
}

/// Organizations (Harness's `OrganizationApi.GetOrganizations`, `GET /v1/orgs`: a bare array
/// of `{org: {identifier, name, ...}, created, updated, harness_managed}`); an org's
/// projects are at `/v1/orgs/{org}/projects` (`OrgProjectApi.GetOrgScopedProjects`, items
/// `{project: {identifier, org, name, ...}, ...}`), both paged by `page` and `limit` as the
/// assignment lists are (harness-openapi-go-client `nextgen/docs`).
const ORGS: &str = "/v1/orgs";

/// The identifier of a listed organization or project: `item[field].identifier`. The
/// older generated clients name it `slug`, which is read too.
fn entity_identifier(item: &serde_json::Value, field: &str) -> Result<String, ProviderError> {
    let entity = &item[field];
    entity["identifier"]
        .as_str()
        .or_else(|| entity["slug"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::Malformed(format!("a listed {field} carries no identifier")))
}

impl RemoteAssignment {
    /// The RoleAssignment block asking for this assignment at `scope`; `None` for a
    /// principal type or level rolesync does not know. The identifier is left to
    /// `spec.externalID`: a role change then gets a new assignment named as rolesync names
    /// its own, beside this one until it is deleted.
    fn spec_at(&self, scope: &Scope) -> Option<HarnessAssignmentSpec> {
        let kind: PrincipalType =
            serde_json::from_value(serde_json::Value::String(self.principal.kind.clone())).ok()?;
        let scope_level = match (kind, self.principal.scope_level.as_deref()) {
            // Harness stores none for a user, whatever was sent.
            (PrincipalType::User, _) | (_, None) => None,
            (_, Some(level)) => Some(
                serde_json::from_value(serde_json::Value::String(level.to_ascii_lowercase()))
                    .ok()?,
            ),
        };
        let (org, project) = match scope {
            Scope::Account => (None, None),
            Scope::Org(org) => (Some(org.to_string()), None),
            Scope::Project { org, project } => (Some(org.to_string()), Some(project.to_string())),
        };
        Some(HarnessAssignmentSpec {
            org,
            project,
            role: self.role.clone(),
            resource_group: self.resource_group.clone(),
            principal: HarnessPrincipalSpec {
                type_: kind,
                identifier: self.principal.identifier.clone(),
                scope_level,
            },
            disabled: self.disabled.unwrap_or(false),
            identifier: None,
        })
    }
}

fn parse_id(id: &ExternalId) -> Result<Identifier, ProviderError> {
    Identifier::parse(id.as_str()).map_err(|e| ProviderError::Rejected {
        status: 400,
        message: format!("external id: {e}"),
    })
}

const LIVE: Freshness = Freshness {
    max_age: Duration::ZERO,
};

/// The Harness provider for one ProviderConfig: endpoint, account, API key and list cache.
pub struct HarnessClient {
    http: HttpClient,
    cache: ListCache<Scope, Index, ProviderError>,
}

impl fmt::Debug for HarnessClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HarnessClient")
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl HarnessClient {
    pub fn new(
        endpoint: &str,
        account_id: &str,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError> {
        let account = HeaderValue::from_str(account_id.trim())
            .ok()
            .filter(|_| !account_id.trim().is_empty())
            .ok_or_else(|| {
                ProviderError::Config(format!(
                    "accountId {account_id:?} is not a usable Harness account id"
                ))
            })?;
        let auth = AuthHeader::new(HeaderName::from_static("x-api-key"), "", &api_key)?;
        let http = HttpClient::new(PROVIDER, endpoint, Some(auth), settings)?
            .with_header(HeaderName::from_static("harness-account"), account)
            .with_error_message(error_message);
        Ok(Self {
            http,
            cache: ListCache::new(),
        })
    }

    /// Pages through the scope's whole list, in identifier order: Harness's default order
    /// is the time of the last change, newest first, so an assignment changed while we page
    /// jumps to a page already read and is missed. Identifiers are unique per scope, so
    /// their order is total and stable, where creation times can tie (and Mongo orders ties
    /// as it likes from one page to the next). Pages still shift when an assignment is
    /// deleted while we page, which could hide one from us: a list whose total shrank is
    /// read again from the start. Harness sends that total (`X-Total-Elements`) since 2023
    /// only; without it a hidden assignment is found by the duplicate refusal a create of
    /// it meets ([`HarnessClient::resolve_duplicate`]).
    async fn fetch_all(&self, scope: &Scope) -> Result<Index, ProviderError> {
        for _ in 0..LIST_ATTEMPTS {
            if let Some(index) = self.fetch_pages(scope).await? {
                return Ok(index);
            }
        }
        Err(ProviderError::Conflict {
            status: 200,
            message: format!(
                "the {scope} assignment list kept shrinking while it was read ({LIST_ATTEMPTS} attempts)"
            ),
        })
    }

    async fn fetch_pages(&self, scope: &Scope) -> Result<Option<Index>, ProviderError> {
        let mut index = Index::default();
        let mut last_total = None;
        for page in 0..MAX_PAGES {
            let response = self
                .http
                .send(
                    ApiRequest::get("list", scope.collection())
                        .query("page", page)
                        .query("limit", PAGE_SIZE)
                        // Exactly these spellings: Harness reads `order` case-sensitively,
                        // and anything but `ASC` means descending.
                        .query("sort", "identifier")
                        .query("order", "ASC"),
                )
                .await?;
            let items: Vec<Response> = response.json()?;
            let total = response
                .headers
                .get(TOTAL_ELEMENTS)
                .map(|v| {
                    v.to_str()
                        .ok()
                        .and_then(|t| t.trim().parse::<u64>().ok())
                        .ok_or_else(|| {
                            ProviderError::Malformed("X-Total-Elements is not a number".into())
                        })
                })
                .transpose()?;
            if let (Some(before), Some(now)) = (last_total, total)
                && now < before
            {
                return Ok(None);
            }
            last_total = total.or(last_total);
            let served = items.len() as u64;
            for item in items {
                index.upsert(item);
            }
            let seen = page * PAGE_SIZE + served;
            // A short page ends the list even if the total grew while we paged.
            if served < PAGE_SIZE || total.is_some_and(|t| seen >= t) {
                return Ok(Some(index));
            }
        }
        Err(ProviderError::Malformed(format!(
            "the {scope} assignment list did not end after {MAX_PAGES} pages"
        )))
    }

    async fn read<R>(
        &self,
        scope: &Scope,
        freshness: Freshness,
        read: impl FnOnce(&Index) -> R,
    ) -> Result<R, ProviderError> {
        self.cache
            .read(scope, freshness, || self.fetch_all(scope), read)
            .await
    }

    /// Every page of a v1 list of organizations or projects (`page` from 0, at most
    /// [`PAGE_SIZE`] a page, in identifier order so that pages do not shift as entities
    /// change), each item's identifier. Like the assignment lists, it ends at a short
    /// page: the totals header is not required.
    async fn identifiers(
        &self,
        path: &str,
        field: &'static str,
    ) -> Result<Vec<String>, ProviderError> {
        let mut found = Vec::new();
        for page in 0..MAX_PAGES {
            let items: Vec<serde_json::Value> = self
                .http
                .send(
                    ApiRequest::get("list", path)
                        .query("page", page)
                        .query("limit", PAGE_SIZE)
                        .query("sort", "identifier")
                        .query("order", "ASC"),
                )
                .await?
                .json()?;
            let served = items.len() as u64;
            for item in &items {
                found.push(entity_identifier(item, field)?);
            }
            if served < PAGE_SIZE {
                return Ok(found);
            }
        }
        Err(ProviderError::Malformed(format!(
            "the list at {path} did not end after {MAX_PAGES} pages"
        )))
    }

    /// The account and every organization and project the key can see.
    async fn scopes(&self) -> Result<Vec<Scope>, ProviderError> {
        let valid = |text: String| match Identifier::parse(&text) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(provider = PROVIDER, error = %e, "a scope whose identifier rolesync cannot name is left out of the inventory");
                None
            }
        };
        let mut scopes = vec![Scope::Account];
        for org in self
            .identifiers(ORGS, "org")
            .await?
            .into_iter()
            .filter_map(valid)
        {
            let projects = self
                .identifiers(&format!("{ORGS}/{org}/projects"), "project")
                .await?;
            scopes.push(Scope::Org(org.clone()));
            scopes.extend(
                projects
                    .into_iter()
                    .filter_map(valid)
                    .map(|project| Scope::Project {
                        org: org.clone(),
                        project,
                    }),
            );
        }
        Ok(scopes)
    }

    /// Every assignment at every scope the key can see, as RoleAssignment blocks, from the
    /// per-scope lists observations use. An assignment of a principal type or level
    /// rolesync does not know is left out.
    pub(super) async fn inventory(
        &self,
        freshness: Freshness,
    ) -> Result<Vec<Listed<HarnessAssignmentSpec>>, ProviderError> {
        let mut listed = Vec::new();
        for scope in self.scopes().await? {
            let mut found = self
                .read(&scope, freshness, |index| {
                    index.by_id.values().cloned().collect::<Vec<_>>()
                })
                .await?;
            found.sort_by(|a, b| a.assignment.identifier.cmp(&b.assignment.identifier));
            tracing::info!(provider = PROVIDER, scope = %scope, assignments = found.len(), "listed");
            listed.extend(found.iter().filter_map(|r| {
                let spec = r.assignment.spec_at(&scope);
                if spec.is_none() {
                    tracing::warn!(provider = PROVIDER, scope = %scope, assignment = %r.assignment.identifier, "an assignment of a principal rolesync does not know is left out of the inventory");
                }
                Some(Listed {
                    spec: spec?,
                    external_id: Some(ExternalId::new(r.assignment.identifier.clone())),
                })
            }));
        }
        Ok(listed)
    }

    async fn post(&self, want: &Assignment) -> Result<Response, ProviderError> {
        let request = ApiRequest::new("create", Method::POST, want.scope.collection())
            .json(&CreateBody::of(want))?;
        let result = self.http.send(request).await.and_then(|r| r.json());
        if result.is_err() {
            // The create may have happened although no usable answer came back: drop the
            // cached list so the retry finds it instead of creating it twice.
            self.cache.invalidate(&want.scope);
        }
        result
    }

    async fn delete_id(&self, scope: &Scope, id: &Identifier) -> Result<Deletion, ProviderError> {
        let request = ApiRequest::new(
            "delete",
            Method::DELETE,
            format!("{}/{id}", scope.collection()),
        );
        let outcome = match self.http.send(request).await {
            Ok(_) => Deletion::Deleted,
            Err(e) if is_gone(&e) => Deletion::AlreadyGone,
            Err(e) => return Err(e),
        };
        self.cache
            .apply(scope, Change::Remove(id.as_str().to_owned()));
        Ok(outcome)
    }

    /// After Harness refused a create as a duplicate: what is there now, from a fresh list.
    async fn resolve_duplicate(
        &self,
        want: &Assignment,
        refused: ProviderError,
    ) -> Result<Observed, ProviderError> {
        enum Found {
            Equal(Observed),
            /// The same grant with the other `disabled`: Harness keeps one per grant.
            OtherDisabled(String),
            IdentifierTaken(String),
            Nothing,
        }
        let found = self
            .read(&want.scope, LIVE, |index| match index.find(want) {
                Some(r) if want.is_met_by(&r.assignment) => Found::Equal(r.observed(want)),
                Some(r) => Found::OtherDisabled(r.assignment.identifier.clone()),
                None => match index.by_id.get(want.identifier.as_str()) {
                    Some(r) => Found::IdentifierTaken(format!(
                        "role {} on resource group {} for {} {}",
                        r.assignment.role,
                        r.assignment.resource_group,
                        r.assignment.principal.kind,
                        r.assignment.principal.identifier
                    )),
                    None => Found::Nothing,
                },
            })
            .await?;
        match found {
            Found::Equal(observed) => Ok(observed),
            Found::OtherDisabled(id) if id == want.identifier.as_str() => {
                Err(ProviderError::Rejected {
                    status: 400,
                    message: format!(
                        "assignment {id} must be replaced to change disabled, but its identifier is fixed by spec.harness.identifier; remove the identifier or recreate the RoleAssignment"
                    ),
                })
            }
            Found::OtherDisabled(id) => {
                // A disabled assignment grants nothing, so removing it before its
                // replacement exists never takes access away from anyone.
                let id =
                    Identifier::parse(&id).map_err(|e| ProviderError::Malformed(e.to_string()))?;
                self.delete_id(&want.scope, &id).await?;
                let created = self.post(want).await?;
                let observed = created.observed(want);
                self.cache.apply(&want.scope, Change::Upsert(created));
                Ok(observed)
            }
            Found::IdentifierTaken(what) => Err(ProviderError::Rejected {
                status: 400,
                message: format!(
                    "identifier {} is already used in {} by another assignment ({what}); choose another spec.harness.identifier",
                    want.identifier, want.scope
                ),
            }),
            // Harness refused a duplicate its own list does not show: the list leaves out the
            // principal types the key may not view.
            Found::Nothing => {
                let refusal = match &refused {
                    ProviderError::Rejected { message, .. }
                    | ProviderError::Conflict { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                Err(ProviderError::Rejected {
                    status: 400,
                    message: format!(
                        "Harness refused role {} on resource group {} for {} {} in {} as a duplicate ({refusal}), yet lists no such assignment: Harness lists only the principal types an API key may view, so {VIEW_PERMISSION_HINT}",
                        want.role,
                        want.resource_group,
                        want.principal.kind.as_str(),
                        want.principal.identifier,
                        want.scope
                    ),
                })
            }
        }
    }
}

impl Provider for HarnessClient {
    type Assignment = Assignment;

    /// Harness's v1 API has no update: the controller replaces instead.
    fn updates_in_place(&self) -> bool {
        false
    }

    /// Harness refuses a second assignment with the same identifier or grant, and `create`
    /// then adopts the one that exists.
    fn create_is_idempotent(&self) -> bool {
        true
    }

    async fn observe(
        &self,
        want: &Assignment,
        known: Option<&ExternalId>,
        freshness: Freshness,
    ) -> Result<Option<Observed>, ProviderError> {
        let known = known.map(parse_id).transpose()?;
        self.read(&want.scope, freshness, |index| {
            known
                .and_then(|id| index.by_id.get(id.as_str()))
                .or_else(|| index.find(want))
                .map(|r| r.observed(want))
        })
        .await
    }

    async fn create(&self, want: &Assignment) -> Result<Observed, ProviderError> {
        match self.post(want).await {
            Ok(created) => {
                let observed = created.observed(want);
                self.cache.apply(&want.scope, Change::Upsert(created));
                Ok(observed)
            }
            Err(e) if is_duplicate(&e) => self.resolve_duplicate(want, e).await,
            Err(e) => Err(e),
        }
    }

    async fn update(
        &self,
        _have: &ExternalId,
        _want: &Assignment,
    ) -> Result<Observed, ProviderError> {
        Err(ProviderError::Config(
            "Harness role assignments cannot be updated in place".into(),
        ))
    }

    async fn delete(
        &self,
        have: &ExternalId,
        want: &Assignment,
    ) -> Result<Deletion, ProviderError> {
        let id = parse_id(have)?;
        self.delete_id(&want.scope, &id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Identifier {
        Identifier::parse(s).unwrap()
    }

    fn principal(kind: PrincipalType, who: &str, level: Option<ScopeLevel>) -> Principal {
        Principal {
            kind,
            identifier: who.to_owned(),
            scope_level: level,
        }
    }

    fn want(role: &str) -> Assignment {
        Assignment::new(
            Scope::Project {
                org: id("default"),
                project: id("payments"),
            },
            id(role),
            id("_all_project_level_resources"),
            principal(PrincipalType::User, "alice", None),
            false,
            None,
        )
    }

    fn remote(identifier: &str, role: &str, level: Option<&str>) -> Response {
        Response {
            assignment: RemoteAssignment {
                identifier: identifier.to_owned(),
                resource_group: "_all_project_level_resources".to_owned(),
                role: role.to_owned(),
                principal: RemotePrincipal {
                    identifier: "alice".to_owned(),
                    kind: "USER".to_owned(),
                    scope_level: level.map(str::to_owned),
                },
                disabled: None,
                managed: None,
                role_reference: None,
            },
            created: Some(1),
            updated: Some(1),
            harness_managed: Some(false),
        }
    }

    #[test]
    fn identifiers_follow_harness_rules() {
        assert!(Identifier::parse("_project_viewer").is_ok());
        assert!(Identifier::parse("a").is_ok());
        assert!(Identifier::parse(&"a".repeat(128)).is_ok());
        for bad in ["", "1abc", "a-b", "a b", "ä", &"a".repeat(129)] {
            assert!(Identifier::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn default_identifier_is_stable_valid_and_depends_on_the_grant() {
        let a = want("_project_viewer");
        // Pinned: a change here would make a restarted operator create duplicates.
        assert_eq!(a.identifier.as_str(), "rolesync_33c1efe3b92e790c");
        assert_eq!(
            Identifier::parse(a.identifier.as_str()),
            Ok(a.identifier.clone())
        );
        assert_eq!(want("_project_viewer").identifier, a.identifier);
        assert_ne!(want("_project_admin").identifier, a.identifier);
        let mut other_scope = want("_project_viewer");
        other_scope.scope = Scope::Org(id("default"));
        let other_scope = Assignment::new(
            other_scope.scope,
            other_scope.role,
            other_scope.resource_group,
            other_scope.principal,
            false,
            None,
        );
        assert_ne!(other_scope.identifier, a.identifier);
        let disabled = Assignment::new(
            a.scope.clone(),
            a.role.clone(),
            a.resource_group.clone(),
            a.principal.clone(),
            true,
            None,
        );
        assert_ne!(
            disabled.identifier, a.identifier,
            "a toggle must not reuse the identifier"
        );
        let named = Assignment::new(
            a.scope.clone(),
            a.role.clone(),
            a.resource_group.clone(),
            a.principal.clone(),
            false,
            Some(id("mine")),
        );
        assert_eq!(named.identifier.as_str(), "mine");
    }

    #[test]
    fn index_finds_by_grant_and_prefers_a_full_match() {
        let mut index = Index::default();
        let mut disabled = remote("a_disabled", "_project_viewer", None);
        disabled.assignment.disabled = Some(true);
        index.upsert(disabled);
        index.upsert(remote("b_enabled", "_project_viewer", Some("account")));
        index.upsert(remote("c_admin", "_project_admin", None));
        let w = want("_project_viewer");
        assert_eq!(
            index.find(&w).map(|r| r.assignment.identifier.as_str()),
            Some("b_enabled")
        );
        index.remove(&"b_enabled".to_owned());
        assert_eq!(
            index.find(&w).map(|r| r.assignment.identifier.as_str()),
            Some("a_disabled")
        );
        assert!(!index.find(&w).is_some_and(|r| w.is_met_by(&r.assignment)));
        index.remove(&"a_disabled".to_owned());
        assert!(index.find(&w).is_none());
        index.remove(&"c_admin".to_owned());
        assert!(index.by_grant.is_empty() && index.by_id.is_empty());
    }

    fn with_principal(kind: PrincipalType, level: Option<ScopeLevel>) -> Assignment {
        let w = want("_project_viewer");
        Assignment::new(
            w.scope,
            w.role,
            w.resource_group,
            principal(kind, "alice", level),
            false,
            None,
        )
    }

    fn remote_as(kind: &str, level: Option<&str>) -> Response {
        let mut r = remote("x", "_project_viewer", level);
        r.assignment.principal.kind = kind.to_owned();
        r
    }

    #[test]
    fn principals_match_as_harness_stores_them() {
        use PrincipalType::{ServiceAccount, User, UserGroup};
        let met = |kind, level, remote_kind, remote_level| {
            with_principal(kind, level).is_met_by(&remote_as(remote_kind, remote_level).assignment)
        };
        // A USER's level is always null at Harness, whatever the spec says.
        for level in [None, Some(ScopeLevel::Account), Some(ScopeLevel::Project)] {
            assert!(met(User, level, "USER", None), "{level:?}");
        }
        // A USER_GROUP left unset has its assignment's scope (here a project).
        assert!(met(UserGroup, None, "USER_GROUP", Some("project")));
        assert!(!met(UserGroup, None, "USER_GROUP", Some("account")));
        assert!(met(
            UserGroup,
            Some(ScopeLevel::Account),
            "USER_GROUP",
            Some("account")
        ));
        // Harness keeps a level as sent, in any case.
        assert!(met(
            UserGroup,
            Some(ScopeLevel::Account),
            "USER_GROUP",
            Some("ACCOUNT")
        ));
        assert!(!met(
            UserGroup,
            Some(ScopeLevel::Project),
            "USER_GROUP",
            Some("account")
        ));
        // A SERVICE_ACCOUNT left unset is where it lives: any level; a set one must match.
        for remote_level in ["account", "organization", "project"] {
            assert!(met(
                ServiceAccount,
                None,
                "SERVICE_ACCOUNT",
                Some(remote_level)
            ));
        }
        assert!(met(
            ServiceAccount,
            Some(ScopeLevel::Project),
            "SERVICE_ACCOUNT",
            Some("project")
        ));
        assert!(!met(
            ServiceAccount,
            Some(ScopeLevel::Account),
            "SERVICE_ACCOUNT",
            Some("project")
        ));
        assert!(
            !met(UserGroup, None, "USER", Some("project")),
            "another type"
        );
    }

    #[test]
    fn default_identifier_follows_the_level_harness_stores() {
        use PrincipalType::{ServiceAccount, User, UserGroup};
        let id = |kind, level| with_principal(kind, level).identifier;
        assert_eq!(
            id(UserGroup, None),
            id(UserGroup, Some(ScopeLevel::Project))
        );
        assert_ne!(
            id(UserGroup, None),
            id(UserGroup, Some(ScopeLevel::Account))
        );
        assert_eq!(id(User, None), id(User, Some(ScopeLevel::Account)));
        assert_eq!(id(User, None), id(User, Some(ScopeLevel::Project)));
        assert_ne!(
            id(ServiceAccount, None),
            id(ServiceAccount, Some(ScopeLevel::Project))
        );
    }

    /// The worst minute of the default rate limit, as the limiter itself admits requests
    /// sent as fast as it allows, counted over a sliding window the way Harness's
    /// published "per minute" is strictest read.
    #[test]
    fn the_default_rate_limit_never_sends_more_than_harness_allows_in_any_minute() {
        use governor::clock::{Clock, FakeRelativeClock, Reference};
        use governor::{Quota, RateLimiter};
        let limit = default_rate_limit();
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(
            Quota::per_minute(limit.requests_per_minute).allow_burst(limit.burst),
            clock.clone(),
        );
        let start = clock.now();
        let mut admitted = Vec::new();
        while clock.now().duration_since(start) < Duration::from_secs(300).into() {
            match limiter.check() {
                Ok(()) => admitted.push(Duration::from(clock.now().duration_since(start))),
                Err(not_until) => clock.advance(not_until.wait_time_from(clock.now())),
            }
        }
        let minute = Duration::from_secs(60);
        let worst = (0..admitted.len())
            .map(|i| {
                admitted[i..]
                    .iter()
                    .take_while(|t| **t < admitted[i] + minute)
                    .count()
            })
            .max()
            .unwrap_or(0);
        assert!(admitted.len() > 1000, "the limiter was exercised");
        assert!(
            worst < PUBLISHED_REQUESTS_PER_MINUTE as usize,
            "{worst} requests in one minute"
        );
        assert!(worst >= 380, "the limit is used, not wasted: {worst}");
    }

    #[test]
    fn up_to_date_needs_role_and_disabled() {
        let r = remote("x", "_project_viewer", None);
        assert!(r.observed(&want("_project_viewer")).up_to_date());
        assert!(!r.observed(&want("_project_admin")).up_to_date());
        let mut disabled = want("_project_viewer");
        disabled.disabled = true;
        assert!(!r.observed(&disabled).up_to_date());
        assert_eq!(r.observed(&disabled).external_id.as_str(), "x");
        assert_eq!(
            r.observed(&disabled).at_provider["role-assignment"]["principal"]["type"],
            "USER"
        );
    }

    #[test]
    fn create_bodies_use_the_v1_field_names() {
        let w = with_principal(PrincipalType::UserGroup, Some(ScopeLevel::Organization));
        let body = serde_json::to_value(CreateBody::of(&w)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "identifier": w.identifier.as_str(),
                "resource_group": "_all_project_level_resources",
                "role": "_project_viewer",
                "principal": {"identifier": "alice", "type": "USER_GROUP", "scope_level": "organization"},
                "disabled": false,
            })
        );
        // What Harness would store is sent; a USER's level is dropped, as Harness drops it.
        let level = |kind, level| {
            serde_json::to_value(CreateBody::of(&with_principal(kind, level))).unwrap()["principal"]
                .get("scope_level")
                .cloned()
        };
        assert_eq!(
            level(PrincipalType::UserGroup, None),
            Some("project".into())
        );
        assert_eq!(level(PrincipalType::User, Some(ScopeLevel::Account)), None);
        assert_eq!(level(PrincipalType::ServiceAccount, None), None);
        assert_eq!(
            level(PrincipalType::ServiceAccount, Some(ScopeLevel::Account)),
            Some("account".into())
        );
    }

    #[test]
    fn scopes_map_to_their_paths() {
        assert_eq!(Scope::Account.collection(), "/v1/role-assignments");
        assert_eq!(
            Scope::Org(id("o")).collection(),
            "/v1/orgs/o/role-assignments"
        );
        assert_eq!(
            Scope::Project {
                org: id("o"),
                project: id("p")
            }
            .collection(),
            "/v1/orgs/o/projects/p/role-assignments"
        );
    }

    #[test]
    fn error_bodies_become_one_line() {
        let ng = br#"{"status":"ERROR","code":"DUPLICATE_FIELD","message":"already exists","correlationId":"c-1"}"#;
        assert_eq!(
            error_message(ng).unwrap(),
            "DUPLICATE_FIELD: already exists [correlation c-1]"
        );
        let v1 = br#"{"code":"NOT_FOUND","message":"no role","details":{"role":"x"}}"#;
        assert_eq!(
            error_message(v1).unwrap(),
            r#"NOT_FOUND: no role ({"role":"x"})"#
        );
        assert_eq!(error_message(b"<html>"), None);
        assert!(is_duplicate(&ProviderError::Rejected {
            status: 400,
            message: error_message(ng).unwrap()
        }));
        assert!(!is_duplicate(&ProviderError::Rejected {
            status: 400,
            message: "INVALID_REQUEST: bad".into()
        }));
        let gone = br#"{"status":"FAILURE","code":"RESOURCE_NOT_FOUND_EXCEPTION","message":"Role Assignment with given identifier doesn't exists","correlationId":"c-2","errors":null}"#;
        assert!(is_gone(&ProviderError::Rejected {
            status: 400,
            message: error_message(gone).unwrap()
        }));
        assert!(!is_gone(&ProviderError::Rejected {
            status: 400,
            message: error_message(ng).unwrap()
        }));
        let unauthorized = br#"{"status":"ERROR","code":"USER_NOT_AUTHORIZED","message":"Current principal is not authorized to the view the role assignments"}"#;
        assert!(
            error_message(unauthorized)
                .unwrap()
                .contains("needs view permission on users, user groups and service accounts")
        );
    }

    /// An assignment becomes the spec that asks for it where it was listed: a USER's level
    /// is dropped (Harness stores none), a group's kept in any case Harness sends it, and
    /// the identifier is left to `spec.externalID`.
    #[test]
    fn listed_assignments_become_specs_at_their_scope() {
        let project = Scope::Project {
            org: id("default"),
            project: id("payments"),
        };
        let user = remote("x1", "_project_viewer", Some("PROJECT"))
            .assignment
            .spec_at(&project)
            .unwrap();
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            serde_json::json!({"org": "default", "project": "payments", "role": "_project_viewer",
                "resourceGroup": "_all_project_level_resources", "disabled": false,
                "principal": {"type": "USER", "identifier": "alice"}})
        );
        let mut group = remote("x2", "_project_viewer", Some("Organization")).assignment;
        group.principal.kind = "USER_GROUP".into();
        group.disabled = Some(true);
        let spec = group.spec_at(&Scope::Org(id("default"))).unwrap();
        assert_eq!(spec.principal.scope_level, Some(ScopeLevel::Organization));
        assert_eq!((spec.org.as_deref(), spec.project), (Some("default"), None));
        assert!(spec.disabled);
        let mut other = remote("x3", "_project_viewer", None).assignment;
        other.principal.kind = "API_KEY".into();
        assert_eq!(other.spec_at(&Scope::Account), None);
        let mut odd_level = group;
        odd_level.principal.scope_level = Some("galaxy".into());
        assert_eq!(odd_level.spec_at(&Scope::Account), None);
    }

    /// Organizations and projects are listed as `{org: {identifier}}` and `{project:
    /// {identifier}}`; older clients call it `slug`.
    #[test]
    fn listed_orgs_and_projects_are_read_by_identifier() {
        let org =
            serde_json::json!({"org": {"identifier": "default", "name": "Default"}, "created": 1});
        assert_eq!(entity_identifier(&org, "org").unwrap(), "default");
        let project = serde_json::json!({"project": {"slug": "payments", "org": "default"}});
        assert_eq!(entity_identifier(&project, "project").unwrap(), "payments");
        assert!(matches!(
            entity_identifier(&serde_json::json!({"org": {}}), "org"),
            Err(ProviderError::Malformed(_))
        ));
    }
}
