//! How a provider plugs into rolesync: its block of a RoleAssignment becomes a typed
//! assignment ([`Connector::assignment`]), its block of a provider config and the API key
//! become a client ([`Connector::connect`]), and the controller drives any client through
//! one object ([`Connection`]).

use std::future::Future;
use std::str::FromStr;

use futures::future::BoxFuture;
use secrecy::SecretString;

use super::http::{HttpSettings, RateLimit};
use super::{
    AssignmentBlocks, Deletion, Desired, ExternalId, Freshness, Observed, PROVIDER_NAMES, Provider,
    ProviderError, ProviderKind,
};

/// A provider's place in rolesync's CRDs, implemented by its client.
pub trait Connector: Provider + Sized {
    /// Its block of a RoleAssignment's spec.
    type Spec;
    /// Its block of a ProviderConfig's or ClusterProviderConfig's spec.
    type Config;

    /// What the block asks for, typed. Everything the API server's schema and CEL rules
    /// already refuse is refused here too, as the server may be older than the CRD.
    fn assignment(spec: &Self::Spec) -> Result<Self::Assignment, SpecError>;

    /// A client of the account the config names, authenticated with `api_key`.
    fn connect(
        config: &Self::Config,
        api_key: SecretString,
        settings: HttpSettings,
    ) -> Result<Self, ProviderError>;

    /// The rate limit when the config sets none: under the provider's published limit.
    fn default_rate_limit() -> RateLimit;

    /// Every assignment the credentials can see, each as the block of a RoleAssignment
    /// asking for exactly it, read from lists at most `freshness` old: the lists
    /// observations use, so that an inventory at resync costs no extra request where an
    /// observation already read them.
    fn inventory(
        &self,
        freshness: Freshness,
    ) -> impl Future<Output = Result<Vec<Listed<Self::Spec>>, ProviderError>> + Send;
}

/// One remote assignment as a provider's inventory lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed<S> {
    /// The RoleAssignment block that asks for exactly this assignment.
    pub spec: S,
    /// The provider's own id of the assignment, where it numbers or names them (Gcore's
    /// id, Harness's identifier): what `spec.externalID` adopts.
    pub external_id: Option<ExternalId>,
}

/// A remote assignment of any provider, as an inventory reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteGrant {
    /// The provider block of a RoleAssignment that asks for exactly it.
    pub blocks: AssignmentBlocks,
    /// What it grants, keyed as RoleAssignments are: a RoleAssignment with the same
    /// natural key claims it.
    pub target: Target,
    pub external_id: Option<ExternalId>,
}

impl RemoteGrant {
    /// `None` (and a warning) for a listed assignment no RoleAssignment could ask for: the
    /// provider reported something its own spec refuses.
    pub fn new(blocks: AssignmentBlocks, external_id: Option<ExternalId>) -> Option<Self> {
        match blocks.target() {
            Ok(target) => Some(Self {
                blocks,
                target,
                external_id,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "a listed assignment cannot be written as a RoleAssignment; left out of the inventory");
                None
            }
        }
    }
}

/// What an assignment grants, as rolesync keys, claims and shows it.
pub trait Grant {
    /// Identifies the remote assignment within one provider account: two RoleAssignments
    /// with the same key claim the same remote assignment.
    fn natural_key(&self) -> String;
    /// The role, for display.
    fn role(&self) -> String;
    /// Who holds it, e.g. `user:777`, for display.
    fn principal(&self) -> String;
    /// The role as the spec's role field names it, whole: what a provider config's
    /// `allowedRoles` is matched against.
    fn role_field(&self) -> String;
    /// Where it is granted, as a `/`-separated path such as `org=default/project=payments`:
    /// what a provider config's `allowedScopes` is matched against.
    fn scope(&self) -> String;
}

/// What one RoleAssignment wants, parsed once at the edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub desired: Desired,
    /// `<provider>:<natural key>`: the remote assignment's identity within one account.
    pub natural_key: String,
    pub role: String,
    pub principal: String,
}

impl Target {
    pub fn new(desired: Desired) -> Self {
        let grant = desired.grant();
        Self {
            natural_key: format!("{}:{}", desired.kind(), grant.natural_key()),
            role: grant.role(),
            principal: grant.principal(),
            desired,
        }
    }

    pub fn kind(&self) -> ProviderKind {
        self.desired.kind()
    }
}

/// A spec the API server accepted but rolesync cannot act on. Retrying cannot help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("no provider block is set (expected {PROVIDER_NAMES})")]
    NoProvider,
    #[error("{field} must be a positive integer, got {value}")]
    NotPositive { field: &'static str, value: i64 },
    #[error("{field} must be a UUID, got {value:?}")]
    NotUuid { field: &'static str, value: String },
    #[error("{field} is required when {when} is set")]
    RequiredWith {
        field: &'static str,
        when: &'static str,
    },
    #[error("exactly one of {0} must be set")]
    ExactlyOne(&'static str),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// A positive integer field.
pub fn positive(field: &'static str, value: i64) -> Result<u64, SpecError> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v > 0)
        .ok_or(SpecError::NotPositive { field, value })
}

/// A UUID field.
pub fn uuid<T: FromStr>(field: &'static str, value: &str) -> Result<T, SpecError> {
    value.parse().map_err(|_| SpecError::NotUuid {
        field,
        value: value.to_owned(),
    })
}

/// A provider client as the controller drives it, whichever provider it is: the
/// [`Provider`] operations for a [`Desired`] assignment of that provider.
pub trait Connection: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Whether `update` changes an assignment in place (else the controller replaces).
    fn updates_in_place(&self) -> bool;

    /// Whether creating an assignment that already exists is harmless.
    fn create_is_idempotent(&self) -> bool;

    fn observe<'a>(
        &'a self,
        want: &'a Desired,
        known: Option<&'a ExternalId>,
        freshness: Freshness,
    ) -> BoxFuture<'a, Result<Option<Observed>, ProviderError>>;

    fn create<'a>(&'a self, want: &'a Desired) -> BoxFuture<'a, Result<Observed, ProviderError>>;

    fn update<'a>(
        &'a self,
        have: &'a ExternalId,
        want: &'a Desired,
    ) -> BoxFuture<'a, Result<Observed, ProviderError>>;

    fn delete<'a>(
        &'a self,
        have: &'a ExternalId,
        want: &'a Desired,
    ) -> BoxFuture<'a, Result<Deletion, ProviderError>>;

    /// Every assignment the credentials can see ([`Connector::inventory`]), ordered by
    /// natural key.
    fn inventory(
        &self,
        freshness: Freshness,
    ) -> BoxFuture<'_, Result<Vec<RemoteGrant>, ProviderError>>;
}
