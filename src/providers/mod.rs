//! Providers: one module per external API, each a [`Provider`] (its wire format) and a
//! [`Connector`] (how a RoleAssignment's block and a provider config become an assignment
//! and a client), plus the HTTP plumbing they share.
//!
//! [`connectors!`] below lists them: the one place a new provider is added besides its
//! own module (see README "Adding a provider").

pub mod cache;
mod connector;
pub mod gcore;
pub mod harness;
pub mod http;
pub mod hyperstack;
pub mod zenml;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use connector::{
    Connection, Connector, Grant, Listed, RemoteGrant, SpecError, Target, positive, uuid,
};
use http::{HttpSettings, RateLimit, RequestObserver};

/// The identity of one remote assignment as rolesync records it in `status.externalID`.
/// For providers that number their assignments it is that number; for providers
/// without ids it is a readable composite of the natural key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A remote assignment as the provider last reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub external_id: ExternalId,
    /// The provider's own view, reported to users as `status.atProvider`.
    pub at_provider: serde_json::Value,
    /// How the remote assignment differs from what is wanted; empty when it already
    /// grants exactly that. Each provider names the fields it compares, so that drift and
    /// `rolesync plan` can say what differs instead of only that something does.
    pub differences: Vec<Difference>,
    /// The granted role's name where the provider reports one the spec does not carry (a
    /// ZenML role is a UUID, a Hyperstack role may be given by id): shown as `status.role`.
    pub role_name: Option<String>,
}

impl Observed {
    /// Whether the remote assignment already grants what is wanted.
    pub fn up_to_date(&self) -> bool {
        self.differences.is_empty()
    }
}

/// One field in which a remote assignment differs from what is wanted, both sides as the
/// provider names them (never a credential: only what an assignment grants).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub field: &'static str,
    pub have: String,
    pub want: String,
}

impl Difference {
    pub fn new(field: &'static str, have: impl fmt::Display, want: impl fmt::Display) -> Self {
        Self {
            field,
            have: have.to_string(),
            want: want.to_string(),
        }
    }

    /// The difference where both sides render differently, for fields compared as text.
    pub fn of(
        field: &'static str,
        have: impl fmt::Display,
        want: impl fmt::Display,
    ) -> Option<Self> {
        let d = Self::new(field, have, want);
        (d.have != d.want).then_some(d)
    }

    /// `role Observer -> Admin`: how a change to the remote assignment reads, from what
    /// rolesync granted to what is there now.
    pub fn drifted(&self) -> String {
        format!("{} {} -> {}", self.field, self.want, self.have)
    }
}

/// `role Admin -> Observer`: how applying the spec changes the field.
impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.field, self.have, self.want)
    }
}

/// An optional value as a difference shows it.
pub fn or_none<T: fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "none".to_owned(), |v| v.to_string())
}

/// How fresh the data behind an observation must be. Providers may answer from a
/// list they fetched for the same scope no longer than `max_age` ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    pub max_age: Duration,
}

/// Why a provider call failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// 401/403: the credentials were refused. Retrying with the same key cannot help.
    #[error("credentials rejected (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// A referenced user, role, project, ... does not exist.
    #[error("not found (HTTP {status}): {message}")]
    NotFound { status: u16, message: String },
    /// The provider refused the request as invalid (400/422) or by one of its rules.
    #[error("rejected (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// 409 or an equivalent: the remote state changed under us; observe again.
    #[error("conflict (HTTP {status}): {message}")]
    Conflict { status: u16, message: String },
    /// 429: slow down, at least for `retry_after` when the provider said so.
    #[error("rate limited{}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx or an unexpected status.
    #[error("provider error (HTTP {status}): {message}")]
    Server { status: u16, message: String },
    #[error("request timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Transport(String),
    /// The provider answered with something that is not what its API promises.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The configuration cannot work (bad endpoint, missing account id, ...).
    #[error("invalid provider configuration: {0}")]
    Config(String),
    /// The wanted grant is in place, but something rolesync granted before could not be
    /// removed without taking what it did not grant too, so it was left in place.
    #[error("left in place: {0}")]
    LeftInPlace(String),
}

impl ProviderError {
    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. }
                | Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Timeout
                | Self::Transport(_)
                | Self::Malformed(_)
        )
    }

    /// A short CamelCase reason, used as condition reason and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "Unauthorized",
            Self::NotFound { .. } => "NotFound",
            Self::Rejected { .. } => "Rejected",
            Self::Conflict { .. } => "RemoteConflict",
            Self::RateLimited { .. } => "RateLimited",
            Self::Server { .. } => "ProviderUnavailable",
            Self::Timeout => "Timeout",
            Self::Transport(_) => "ConnectionFailed",
            Self::Malformed(_) => "MalformedResponse",
            Self::Config(_) => "InvalidProviderConfig",
            Self::LeftInPlace(_) => "LeftInPlace",
        }
    }
}

/// One external API that holds role assignments (modelled on Crossplane's ExternalClient).
///
/// `observe` must find an assignment by its external id or, failing that, by its natural
/// key, so that a crash between a remote create and the status write never leads to a
/// duplicate.
pub trait Provider: Send + Sync + 'static {
    /// What the user wants assigned, already validated and typed.
    type Assignment: Grant + Send + Sync;

    /// Whether `update` changes an assignment in place. When it does not, the controller
    /// replaces: it creates the new assignment first and deletes the old one afterwards.
    fn updates_in_place(&self) -> bool;

    /// Whether creating an assignment that already exists is harmless: the provider
    /// refuses it (and the client adopts the existing one) or the write is idempotent.
    /// When it is not, the controller confirms an absence with fresh data before creating.
    fn create_is_idempotent(&self) -> bool;

    fn observe(
        &self,
        want: &Self::Assignment,
        known: Option<&ExternalId>,
        freshness: Freshness,
    ) -> impl Future<Output = Result<Option<Observed>, ProviderError>> + Send;

    fn create(
        &self,
        want: &Self::Assignment,
    ) -> impl Future<Output = Result<Observed, ProviderError>> + Send;

    /// Only called when `updates_in_place()` is true.
    fn update(
        &self,
        have: &ExternalId,
        want: &Self::Assignment,
    ) -> impl Future<Output = Result<Observed, ProviderError>> + Send;

    /// Removes the assignment `have`; `want` gives the scope it lives in and what was
    /// granted. Deleting something that is already gone succeeds.
    fn delete(
        &self,
        have: &ExternalId,
        want: &Self::Assignment,
    ) -> impl Future<Output = Result<Deletion, ProviderError>> + Send;
}

/// What a delete did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// Nothing was there any more.
    AlreadyGone,
    /// What is there now was not granted by rolesync (e.g. someone else changed the role
    /// since), so it was left in place; the text says what was found.
    LeftAlone(String),
}

/// Declares every provider rolesync supports, in the order the CRDs name them. For each it
/// generates a [`ProviderKind`], a block of [`AssignmentBlocks`] (a RoleAssignment's
/// `spec.<name>`) and of [`ConfigBlocks`] (a provider config's), a [`Desired`] variant and
/// the [`Connection`] of its client.
macro_rules! connectors {
    ($($(#[doc = $doc:literal])* $name:ident: $variant:ident => $client:ty),+ $(,)?) => {
        /// The providers rolesync supports.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ProviderKind {
            $($variant),+
        }

        impl ProviderKind {
            pub const ALL: &[ProviderKind] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($name)),+
                }
            }
        }

        /// The provider blocks of a RoleAssignment's spec; the CRD lets exactly one be set.
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
        pub struct AssignmentBlocks {
            // One block is set and the others are empty: boxed, the empty ones cost a
            // pointer each in every cached RoleAssignment instead of their whole size.
            $(
                $(#[doc = $doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<Box<<$client as Connector>::Spec>>,
            )+
        }

        impl AssignmentBlocks {
            /// The provider whose block is set.
            pub fn kind(&self) -> Option<ProviderKind> {
                $(if self.$name.is_some() {
                    return Some(ProviderKind::$variant);
                })+
                None
            }

            /// What the set block asks for, parsed once at the edge.
            pub fn target(&self) -> Result<Target, SpecError> {
                $(if let Some(spec) = &self.$name {
                    let assignment = <$client as Connector>::assignment(spec)?;
                    return Ok(Target::new(Desired::$variant(assignment)));
                })+
                Err(SpecError::NoProvider)
            }
        }

        /// The provider blocks of a ProviderConfig's or ClusterProviderConfig's spec; the
        /// CRD lets exactly one be set.
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
        pub struct ConfigBlocks {
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<<$client as Connector>::Config>,
            )+
        }

        impl ConfigBlocks {
            /// The provider whose block is set.
            pub fn kind(&self) -> Option<ProviderKind> {
                $(if self.$name.is_some() {
                    return Some(ProviderKind::$variant);
                })+
                None
            }

            /// A client for the set block's account, authenticated with `api_key`, within
            /// `rate_limit` (the provider's default when `None`).
            pub fn connect(
                &self,
                api_key: SecretString,
                rate_limit: Option<RateLimit>,
                observer: Option<Arc<dyn RequestObserver>>,
            ) -> Result<Arc<dyn Connection>, ProviderError> {
                $(if let Some(config) = &self.$name {
                    let settings = HttpSettings {
                        rate_limit: Some(rate_limit.unwrap_or_else(<$client as Connector>::default_rate_limit)),
                        observer,
                        ..HttpSettings::default()
                    };
                    let client = <$client as Connector>::connect(config, api_key, settings)?;
                    return Ok(Arc::new(client));
                })+
                Err(ProviderError::Config("no provider block is set".to_owned()))
            }
        }

        /// A wanted assignment of any provider.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Desired {
            $($variant(<$client as Provider>::Assignment)),+
        }

        impl Desired {
            pub fn kind(&self) -> ProviderKind {
                match self {
                    $(Self::$variant(_) => ProviderKind::$variant),+
                }
            }

            /// What the assignment grants, whichever provider's it is.
            pub fn grant(&self) -> &dyn Grant {
                match self {
                    $(Self::$variant(a) => a),+
                }
            }
        }

        $(
            impl Connection for $client {
                fn kind(&self) -> ProviderKind {
                    ProviderKind::$variant
                }

                fn updates_in_place(&self) -> bool {
                    Provider::updates_in_place(self)
                }

                fn create_is_idempotent(&self) -> bool {
                    Provider::create_is_idempotent(self)
                }

                fn observe<'a>(
                    &'a self,
                    want: &'a Desired,
                    known: Option<&'a ExternalId>,
                    freshness: Freshness,
                ) -> BoxFuture<'a, Result<Option<Observed>, ProviderError>> {
                    match want {
                        Desired::$variant(w) => Box::pin(Provider::observe(self, w, known, freshness)),
                        #[allow(unreachable_patterns)]
                        other => mismatch(ProviderKind::$variant, other),
                    }
                }

                fn create<'a>(&'a self, want: &'a Desired) -> BoxFuture<'a, Result<Observed, ProviderError>> {
                    match want {
                        Desired::$variant(w) => Box::pin(Provider::create(self, w)),
                        #[allow(unreachable_patterns)]
                        other => mismatch(ProviderKind::$variant, other),
                    }
                }

                fn update<'a>(
                    &'a self,
                    have: &'a ExternalId,
                    want: &'a Desired,
                ) -> BoxFuture<'a, Result<Observed, ProviderError>> {
                    match want {
                        Desired::$variant(w) => Box::pin(Provider::update(self, have, w)),
                        #[allow(unreachable_patterns)]
                        other => mismatch(ProviderKind::$variant, other),
                    }
                }

                fn delete<'a>(
                    &'a self,
                    have: &'a ExternalId,
                    want: &'a Desired,
                ) -> BoxFuture<'a, Result<Deletion, ProviderError>> {
                    match want {
                        Desired::$variant(w) => Box::pin(Provider::delete(self, have, w)),
                        #[allow(unreachable_patterns)]
                        other => mismatch(ProviderKind::$variant, other),
                    }
                }

                fn inventory(
                    &self,
                    freshness: Freshness,
                ) -> BoxFuture<'_, Result<Vec<RemoteGrant>, ProviderError>> {
                    Box::pin(async move {
                        let listed = <$client as Connector>::inventory(self, freshness).await?;
                        let mut grants: Vec<RemoteGrant> = listed
                            .into_iter()
                            .filter_map(|l| {
                                let blocks = AssignmentBlocks {
                                    $name: Some(Box::new(l.spec)),
                                    ..AssignmentBlocks::default()
                                };
                                RemoteGrant::new(blocks, l.external_id)
                            })
                            .collect();
                        grants.sort_by(|a, b| a.target.natural_key.cmp(&b.target.natural_key));
                        Ok(grants)
                    })
                }
            }
        )+

        /// CEL: exactly one provider block is set (RoleAssignment and both config kinds).
        pub const EXACTLY_ONE_PROVIDER: &str =
            concat!("[", join!(", "; $(concat!("has(self.", stringify!($name), ")")),+), "].exists_one(x, x)");
        pub const EXACTLY_ONE_PROVIDER_MESSAGE: &str =
            concat!("exactly one provider block (", or_list!($($name),+), ") must be set");
        /// CEL transition rule: a RoleAssignment stays with the provider it was created for.
        pub const SAME_PROVIDER: &str = join!(" && "; $(
            concat!("has(self.", stringify!($name), ") == has(oldSelf.", stringify!($name), ")")
        ),+);
        /// The providers, as error messages list them.
        pub const PROVIDER_NAMES: &str = or_list!($($name),+);
    };
}

/// `a<sep>b<sep>c` of string literals.
macro_rules! join {
    ($sep:literal; $first:expr $(, $rest:expr)*) => {
        concat!($first $(, $sep, $rest)*)
    };
}

/// `a, b, c or d` of identifiers.
macro_rules! or_list {
    ($only:ident) => { stringify!($only) };
    ($a:ident, $b:ident) => { concat!(stringify!($a), " or ", stringify!($b)) };
    ($first:ident, $($rest:ident),+) => { concat!(stringify!($first), ", ", or_list!($($rest),+)) };
}

fn mismatch<T>(
    client: ProviderKind,
    want: &Desired,
) -> BoxFuture<'static, Result<T, ProviderError>> {
    let error = ProviderError::Config(format!(
        "a {client} client cannot manage a {} assignment",
        want.kind()
    ));
    Box::pin(async move { Err(error) })
}

connectors! {
    /// A Gcore Cloud role assignment.
    gcore: Gcore => gcore::GcoreClient,
    /// A Harness role assignment.
    harness: Harness => harness::HarnessClient,
    /// A ZenML Pro role assignment.
    zenml: Zenml => zenml::ZenmlClient,
    /// A Hyperstack organization member's RBAC role.
    hyperstack: Hyperstack => hyperstack::HyperstackClient,
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
