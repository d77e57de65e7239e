//! One reconcile of one RoleAssignment: observe the remote assignment, create / update /
//! replace / delete it as the spec and management policies allow, and write status only
//! when it changed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use tracing::{Instrument, info, warn};

use super::applying::{Applying, applying};
use super::backoff::{Backoff, FailureCounts, IntervalError, jittered, parse_interval};
use super::claims::Claims;
use super::conditions::{self, READY, SYNCED, Wanted};
use super::config_status::Verdict;
use super::configs::{ConfigError, ConfigKey, Configs, Resolved};
use super::events::{Event, Reason};
use super::writes::Writes;
use crate::api::{
    AtProvider, Condition, ConditionStatus, DeletionPolicy, FINALIZER, ManagementPolicy,
    PAUSED_ANNOTATION, POLL_INTERVAL_ANNOTATION, RoleAssignment, RoleAssignmentSpec,
    RoleAssignmentStatus,
};
use crate::metrics::Metrics;
use crate::providers::{
    Connection, Deletion, Desired, ExternalId, Freshness, Observed, ProviderError, SpecError,
    Target,
};

/// Data read now, not from a cached list.
const FRESH: Freshness = Freshness {
    max_age: Duration::ZERO,
};

/// Everything reconciles share.
pub struct Context {
    pub writes: Arc<dyn Writes>,
    pub configs: Arc<dyn Configs>,
    pub claims: Arc<Mutex<Claims>>,
    pub failures: FailureCounts,
    pub backoff: Backoff,
    pub default_poll: Duration,
    pub metrics: Arc<Metrics>,
}

impl Context {
    fn owner_of(&self, claim_key: &str) -> Option<String> {
        self.claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .owner(claim_key)
            .map(str::to_owned)
    }
}

/// The key under which RoleAssignments claim a remote assignment.
pub fn claim_key(config: &ConfigKey, natural_key: &str) -> String {
    format!("{}|{natural_key}", config.as_str())
}

/// A failure to write to Kubernetes itself; kube-runtime retries via the error policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing RoleAssignment {object}: {source}")]
    Kube {
        object: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    fn kube(ra: &RoleAssignment, source: kube::Error) -> Self {
        Self::Kube {
            object: object_key(ra),
            source,
        }
    }

    pub fn reason(&self) -> &'static str {
        "KubernetesError"
    }
}

/// Why a reconcile could not reach the wanted state.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("invalid spec: {0}")]
    Spec(#[from] SpecError),
    #[error("invalid annotation {POLL_INTERVAL_ANNOTATION}: {0}")]
    Annotation(#[from] IntervalError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{operation} failed: {source}")]
    Provider {
        operation: &'static str,
        source: ProviderError,
    },
    #[error("recording the spec being applied: {0}")]
    Record(#[source] kube::Error),
}

impl Failure {
    fn retryable(&self) -> bool {
        match self {
            Self::Spec(_) | Self::Annotation(_) => false,
            Self::Config(e) => e.is_retryable(),
            Self::Provider { source, .. } => source.is_retryable(),
            Self::Record(_) => true,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::Spec(_) | Self::Annotation(_) => "InvalidSpec",
            Self::Config(e) => e.reason(),
            Self::Provider { source, .. } => source.reason(),
            Self::Record(_) => "KubernetesError",
        }
    }
}

fn provider(operation: &'static str) -> impl FnOnce(ProviderError) -> Failure {
    move |source| Failure::Provider { operation, source }
}

/// What a pass says about the provider config's credentials, if anything.
fn config_verdict(result: &Result<Outcome, Failure>) -> Option<Verdict> {
    let refused = |reason, message: String| Some(Verdict::Refused { reason, message });
    match result {
        Ok(Outcome::Available { .. } | Outcome::Missing) => Some(Verdict::Accepted),
        Err(Failure::Provider {
            source: e @ ProviderError::Unauthorized { .. },
            ..
        }) => refused("CredentialsRejected", e.to_string()),
        Err(Failure::Config(
            e @ (ConfigError::SecretNotFound { .. }
            | ConfigError::SecretKeyMissing { .. }
            | ConfigError::SecretNamespaceNotAllowed { .. }
            | ConfigError::Invalid { .. }),
        )) => refused(e.reason(), e.to_string()),
        _ => None,
    }
}

/// What a successful pass found.
enum Outcome {
    /// The remote assignment exists (and matches, unless policies forbid fixing it).
    Available {
        observed: Observed,
        event: Option<Event>,
    },
    /// Observe-only and nothing exists remotely.
    Missing,
    /// An older RoleAssignment manages the same remote assignment.
    Conflict {
        owner: String,
    },
    Paused,
}

/// Which remote operations the management policies allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    pub create: bool,
    pub update: bool,
    pub delete: bool,
}

impl Allowed {
    pub fn from_policies(policies: &[ManagementPolicy]) -> Self {
        let has = |p| policies.contains(&ManagementPolicy::All) || policies.contains(&p);
        Self {
            create: has(ManagementPolicy::Create),
            update: has(ManagementPolicy::Update),
            delete: has(ManagementPolicy::Delete),
        }
    }
}

/// What to do about what observe found: the diff between wanted and actual state.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Create,
    /// Nothing exists and the policies forbid creating it.
    ReportMissing,
    /// It exists and matches (or the policies forbid fixing it); `adopted` when status
    /// did not name it yet.
    Keep {
        observed: Observed,
        adopted: bool,
    },
    Update(Observed),
    /// The provider cannot update in place: create the new one, then delete the old.
    Replace(Observed),
}

pub fn plan(
    found: Option<Observed>,
    recorded: Option<&str>,
    allowed: Allowed,
    updates_in_place: bool,
) -> Step {
    match found {
        None if allowed.create => Step::Create,
        None => Step::ReportMissing,
        Some(o) if o.up_to_date || !allowed.update => Step::Keep {
            adopted: recorded != Some(o.external_id.as_str()),
            observed: o,
        },
        Some(o) if updates_in_place => Step::Update(o),
        // Replacing deletes the old assignment, so it needs both permissions.
        Some(o) if allowed.create && allowed.delete => Step::Replace(o),
        Some(o) => Step::Keep {
            observed: o,
            adopted: false,
        },
    }
}

/// Whether deleting the resource must first delete the remote assignment.
pub fn deletes_remote(spec: &RoleAssignmentSpec) -> bool {
    spec.deletion_policy == DeletionPolicy::Delete
        && Allowed::from_policies(&spec.management_policies).delete
}

fn paused(ra: &RoleAssignment) -> bool {
    ra.annotations()
        .get(PAUSED_ANNOTATION)
        .is_some_and(|v| v == "true")
}

fn object_key(ra: &RoleAssignment) -> String {
    format!("{}/{}", ra.namespace().unwrap_or_default(), ra.name_any())
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

/// What a pass ends with: the conditions it wants, when to look again, and what to tell.
struct Decision {
    wanted: Vec<Wanted>,
    action: Action,
    event: Option<Event>,
}

pub async fn reconcile(ra: Arc<RoleAssignment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = object_key(&ra);
    let span = tracing::info_span!("reconcile", object = %key, generation = ra.metadata.generation);
    reconcile_one(&ra, &ctx, key).instrument(span).await
}

async fn reconcile_one(ra: &RoleAssignment, ctx: &Context, key: String) -> Result<Action, Error> {
    if ra.metadata.deletion_timestamp.is_some() {
        return finalize(ra, ctx, &key).await;
    }

    let target = ra.spec.provider.target();
    let wants_finalizer = deletes_remote(&ra.spec);
    if wants_finalizer != ra.finalizers().iter().any(|f| f == FINALIZER) {
        // The finalizer must be in place before anything is created remotely, so that a
        // deletion can never skip the remote cleanup. The update re-triggers this object.
        // Where nothing is recorded yet (an earlier spec's record must wait for sync), it
        // also records the spec about to be applied, saving the write sync would make.
        let record = wants_finalizer
            && target
                .as_ref()
                .is_ok_and(|t| matches!(applying(ra, t), Applying::Unrecorded));
        ctx.writes
            .set_finalizer(ra, wants_finalizer, record)
            .await
            .map_err(|source| Error::kube(ra, source))?;
        if wants_finalizer {
            return Ok(Action::requeue(ctx.default_poll));
        }
    }

    let poll = match ra.annotations().get(POLL_INTERVAL_ANNOTATION) {
        Some(v) => parse_interval(v),
        None => Ok(ctx.default_poll),
    };
    let result = match (&poll, &target) {
        (Ok(poll), Ok(target)) => sync(ra, ctx, &key, target, *poll).await,
        (Err(e), _) => Err(Failure::Annotation(e.clone())),
        (_, Err(e)) => Err(Failure::Spec(e.clone())),
    };
    let poll = poll.unwrap_or(ctx.default_poll);
    let target = target.ok();
    if let Some(verdict) = config_verdict(&result) {
        let ns = ra.namespace().unwrap_or_default();
        ctx.configs
            .report(&ns, &ra.spec.provider_config_ref, verdict)
            .await;
    }

    let old = ra.status.clone().unwrap_or_default();
    let mut status = old.clone();
    if let Some(t) = &target {
        status.provider = Some(t.kind().as_str().to_owned());
        status.role = Some(t.role.clone());
        status.principal = Some(t.principal.clone());
    }
    status.observed_generation = ra.metadata.generation;
    let decision = match result {
        Ok(outcome) => {
            ctx.failures.succeed(&key);
            outcome_status(outcome, &mut status, ctx, poll)
        }
        Err(failure) => {
            // Until a first pass succeeds, Ready says the assignment is still to come.
            let ready = conditions::find(&old.conditions, READY).is_none().then(|| {
                Wanted::new(
                    READY,
                    ConditionStatus::False,
                    "Creating",
                    "waiting for the assignment to be created",
                )
            });
            failed(ctx, &key, &old, &failure, poll, ready)
        }
    };
    conclude(ctx, ra, status, decision).await
}

/// The failure path of every pass, applying or deleting: counted, logged, reported in
/// Synced (with `ready` when the pass has something to say of Ready), published when a
/// retry cannot fix it, retried with backoff when one can.
fn failed(
    ctx: &Context,
    key: &str,
    old: &RoleAssignmentStatus,
    failure: &Failure,
    poll: Duration,
    ready: Option<Wanted>,
) -> Decision {
    ctx.metrics.reconciled("error");
    ctx.metrics.reconcile_failed(failure.reason());
    warn!(object = %key, reason = failure.reason(), error = %failure, "reconcile failed");
    let action = if failure.retryable() {
        Action::requeue(ctx.backoff.delay(ctx.failures.fail(key), rand::random()))
    } else {
        Action::requeue(jittered(poll, rand::random()))
    };
    let synced = Wanted::new(
        SYNCED,
        ConditionStatus::False,
        failure.reason(),
        failure.to_string(),
    );
    let changed = conditions::find(&old.conditions, SYNCED)
        .is_none_or(|c| c.reason != synced.reason || c.message != synced.message);
    let event = (changed && !failure.retryable())
        .then(|| Event::new(Reason::Failed(failure.reason()), failure.to_string()));
    Decision {
        wanted: std::iter::once(synced).chain(ready).collect(),
        action,
        event,
    }
}

/// Writes the status a pass decided on (when it changed) and publishes its Event.
async fn conclude(
    ctx: &Context,
    ra: &RoleAssignment,
    mut status: RoleAssignmentStatus,
    decision: Decision,
) -> Result<Action, Error> {
    let old = ra.status.clone().unwrap_or_default();
    status.conditions = conditions::merge(
        &old.conditions,
        &decision.wanted,
        ra.metadata.generation,
        &now(),
    );
    status.reason = conditions::shown_reason(&status.conditions);
    if status != old {
        ctx.writes
            .write_status(ra, &status)
            .await
            .map_err(|source| Error::kube(ra, source))?;
    }
    if let Some(event) = decision.event {
        publish(ctx, ra, event).await;
    }
    Ok(decision.action)
}

fn outcome_status(
    outcome: Outcome,
    status: &mut RoleAssignmentStatus,
    ctx: &Context,
    poll: Duration,
) -> Decision {
    let resync = Action::requeue(jittered(poll, rand::random()));
    let synced_ok = Wanted::new(SYNCED, ConditionStatus::True, "ReconcileSuccess", "");
    match outcome {
        Outcome::Available { observed, event } => {
            ctx.metrics.reconciled("success");
            status.external_id = Some(observed.external_id.to_string());
            status.at_provider = Some(AtProvider::new(observed.at_provider));
            Decision {
                wanted: vec![
                    Wanted::new(READY, ConditionStatus::True, "Available", ""),
                    synced_ok,
                ],
                action: resync,
                event,
            }
        }
        Outcome::Missing => {
            ctx.metrics.reconciled("success");
            status.at_provider = None;
            Decision {
                wanted: vec![
                    Wanted::new(
                        READY,
                        ConditionStatus::False,
                        "Unavailable",
                        "the assignment does not exist at the provider and managementPolicies do not allow creating it",
                    ),
                    synced_ok,
                ],
                action: resync,
                event: None,
            }
        }
        Outcome::Conflict { owner } => {
            ctx.metrics.reconciled("conflict");
            let message = format!(
                "RoleAssignment {owner} already manages this remote assignment; this one changes nothing remotely"
            );
            let is_new =
                conditions::find(&status.conditions, READY).is_none_or(|c| c.reason != "Conflict");
            Decision {
                wanted: vec![
                    Wanted::new(READY, ConditionStatus::False, "Conflict", message.clone()),
                    Wanted::new(SYNCED, ConditionStatus::False, "Conflict", message.clone()),
                ],
                action: resync,
                event: is_new.then(|| Event::new(Reason::Conflict, message)),
            }
        }
        Outcome::Paused => {
            ctx.metrics.reconciled("paused");
            Decision {
                wanted: vec![Wanted::new(
                    SYNCED,
                    ConditionStatus::False,
                    "ReconcilePaused",
                    format!("paused by annotation {PAUSED_ANNOTATION}"),
                )],
                action: Action::await_change(),
                event: None,
            }
        }
    }
}

/// Brings the remote assignment in line with the spec.
async fn sync(
    ra: &RoleAssignment,
    ctx: &Context,
    key: &str,
    target: &Target,
    poll: Duration,
) -> Result<Outcome, Failure> {
    if paused(ra) {
        return Ok(Outcome::Paused);
    }
    let ns = ra.namespace().unwrap_or_default();
    let Resolved { config, client } = ctx
        .configs
        .resolve(&ns, &ra.spec.provider_config_ref, target.kind())
        .await?;
    let client = client.as_ref();
    if let Some(owner) = ctx.owner_of(&claim_key(&config, &target.natural_key))
        && owner != key
    {
        return Ok(Outcome::Conflict { owner });
    }
    let allowed = Allowed::from_policies(&ra.spec.management_policies);
    let recorded = ra.status.as_ref().and_then(|s| s.external_id.clone());
    let freshness = Freshness { max_age: poll };
    let mut earlier_grant = None;
    let noted = match applying(ra, target) {
        Applying::Current => true,
        Applying::Unrecorded => false,
        Applying::Earlier(earlier) if earlier.natural_key == target.natural_key => {
            if ra.spec.external_id.is_none() {
                earlier_grant =
                    earlier_role(client, &earlier, recorded.as_deref(), allowed).await?;
            }
            ctx.writes
                .record_applying(ra)
                .await
                .map_err(Failure::Record)?;
            true
        }
        Applying::Earlier(earlier) => {
            // Left alone where deleting is forbidden or another resource now claims it.
            let claim = claim_key(&config, &earlier.natural_key);
            if allowed.delete && ctx.owner_of(&claim).is_none_or(|owner| owner == key) {
                remove_earlier(client, key, &earlier, recorded.as_deref()).await?;
            }
            // Settled: from now on the current spec is the one being applied.
            ctx.writes
                .record_applying(ra)
                .await
                .map_err(Failure::Record)?;
            true
        }
    };
    let known = ra
        .spec
        .external_id
        .clone()
        .map(ExternalId::new)
        .or(earlier_grant)
        .or(recorded.clone().map(ExternalId::new));
    let want = &target.desired;

    let mut found = client
        .observe(want, known.as_ref(), freshness)
        .await
        .map_err(provider("observe"))?;
    if found.is_none() && (known.is_some() || !(allowed.create && client.create_is_idempotent())) {
        // A cached list may predate an assignment someone just made: confirm the absence
        // with fresh data before creating (where that could duplicate a grant), reporting
        // it missing, or giving up on the assignment the resource names (it is adopted,
        // not created again).
        found = client
            .observe(want, known.as_ref(), FRESH)
            .await
            .map_err(provider("observe"))?;
    }
    let step = plan(
        found,
        recorded.as_deref(),
        allowed,
        client.updates_in_place(),
    );
    if !noted && matches!(step, Step::Create | Step::Update(_) | Step::Replace(_)) {
        ctx.writes
            .record_applying(ra)
            .await
            .map_err(Failure::Record)?;
    }
    let kind = target.kind();
    let outcome = match step {
        Step::Create => {
            let observed = client.create(want).await.map_err(provider("create"))?;
            info!(object = %key, external_id = %observed.external_id, "created remote assignment");
            let note = format!("created {kind} {}", observed.external_id);
            Outcome::Available {
                observed,
                event: Some(Event::new(Reason::Created, note)),
            }
        }
        Step::Update(old) => {
            let observed = client
                .update(&old.external_id, want)
                .await
                .map_err(provider("update"))?;
            info!(object = %key, external_id = %observed.external_id, "updated remote assignment");
            let note = format!("updated {kind} {}", observed.external_id);
            Outcome::Available {
                observed,
                event: Some(Event::new(Reason::Updated, note)),
            }
        }
        Step::Replace(old) => {
            // Where creating what exists may duplicate it, only fresh data says it is not there.
            let freshness = if client.create_is_idempotent() {
                freshness
            } else {
                FRESH
            };
            let observed = replace(client, want, &old, freshness).await?;
            info!(object = %key, old = %old.external_id, new = %observed.external_id, "replaced remote assignment");
            let note = format!(
                "replaced {kind} {} with {}",
                old.external_id, observed.external_id
            );
            Outcome::Available {
                observed,
                event: Some(Event::new(Reason::Replaced, note)),
            }
        }
        Step::Keep { observed, adopted } => {
            let event = adopted.then(|| {
                let note = format!(
                    "adopted existing {kind} assignment {}",
                    observed.external_id
                );
                Event::new(Reason::Adopted, note)
            });
            Outcome::Available { observed, event }
        }
        Step::ReportMissing => Outcome::Missing,
    };
    Ok(outcome)
}

/// Another role of the same assignment was being applied (a provider that changes roles
/// in place): what the earlier role made is the grant to change now, not one to leave
/// beside the new role. A process that crashed before recording it may have made it, so
/// fresh data. Where status names a grant still being changed to the earlier role (a
/// provider whose change can leave both, such as Hyperstack where assigning adds), that
/// change is finished first, before the record moves on, so that one grant is left.
async fn earlier_role(
    client: &dyn Connection,
    earlier: &Target,
    recorded: Option<&str>,
    allowed: Allowed,
) -> Result<Option<ExternalId>, Failure> {
    let recorded = recorded.map(ExternalId::new);
    let seen = client
        .observe(&earlier.desired, recorded.as_ref(), FRESH)
        .await
        .map_err(provider("observe"))?;
    Ok(match seen {
        Some(o) if o.up_to_date => Some(o.external_id),
        Some(o) if allowed.update && recorded.as_ref() == Some(&o.external_id) => {
            let finished = client
                .update(&o.external_id, &earlier.desired)
                .await
                .map_err(provider("update"))?;
            Some(finished.external_id)
        }
        _ => None,
    })
}

/// A crash between a remote change and the status write, then a spec change, leaves an
/// assignment for a spec the resource no longer has, which the current spec cannot find:
/// remove it, unless status names it (the normal replacement of it follows). Fresh data:
/// the crashed process, not this one's cache, made it.
async fn remove_earlier(
    client: &dyn Connection,
    key: &str,
    earlier: &Target,
    recorded: Option<&str>,
) -> Result<(), Failure> {
    let found = client
        .observe(&earlier.desired, None, FRESH)
        .await
        .map_err(provider("observe"))?
        .filter(|o| recorded != Some(o.external_id.as_str()));
    if let Some(found) = found {
        client
            .delete(&found.external_id, &earlier.desired)
            .await
            .map_err(provider("delete"))?;
        info!(object = %key, external_id = %found.external_id, "deleted what an earlier spec made");
    }
    Ok(())
}

/// Replaces `old` for providers that cannot update in place: the new assignment is
/// created (or found, after a crash) first and the old one deleted afterwards, so the
/// principal never loses access in between. Status still names `old` until both steps
/// are done, so a crash in between resumes here instead of leaking `old`.
async fn replace(
    client: &dyn Connection,
    want: &Desired,
    old: &Observed,
    freshness: Freshness,
) -> Result<Observed, Failure> {
    let existing = client
        .observe(want, None, freshness)
        .await
        .map_err(provider("observe"))?
        .filter(|n| n.up_to_date && n.external_id != old.external_id);
    let new = match existing {
        Some(n) => n,
        None => client.create(want).await.map_err(provider("create"))?,
    };
    client
        .delete(&old.external_id, want)
        .await
        .map_err(provider("delete"))?;
    Ok(new)
}

/// What deleting a resource did remotely.
struct Removed {
    id: ExternalId,
    deletion: Deletion,
}

/// Deletion: remove the remote assignment when the policies say so, then the finalizer.
async fn finalize(ra: &RoleAssignment, ctx: &Context, key: &str) -> Result<Action, Error> {
    if !ra.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    match delete_remote(ra, ctx, key).await {
        Ok(removed) => {
            ctx.writes
                .set_finalizer(ra, false, false)
                .await
                .map_err(|source| Error::kube(ra, source))?;
            ctx.failures.succeed(key);
            ctx.metrics.reconciled("deleted");
            match removed {
                Some(Removed {
                    id,
                    deletion: Deletion::Deleted,
                }) => {
                    info!(object = %key, external_id = %id, "deleted remote assignment");
                    let note = format!("deleted remote assignment {id}");
                    publish(ctx, ra, Event::new(Reason::Deleted, note)).await;
                }
                Some(Removed {
                    id,
                    deletion: Deletion::LeftAlone(found),
                }) => {
                    warn!(object = %key, external_id = %id, %found, "left a remote assignment rolesync did not grant");
                    let note = format!("left {id} in place: {found}");
                    publish(ctx, ra, Event::new(Reason::LeftInPlace, note)).await;
                }
                Some(Removed {
                    deletion: Deletion::AlreadyGone,
                    ..
                })
                | None => {}
            }
            Ok(Action::await_change())
        }
        Err(failure) => {
            let old = ra.status.clone().unwrap_or_default();
            let deleting = Wanted::new(
                READY,
                ConditionStatus::False,
                "Deleting",
                "deleting the remote assignment",
            );
            let decision = failed(ctx, key, &old, &failure, ctx.default_poll, Some(deleting));
            conclude(ctx, ra, old, decision).await
        }
    }
}

/// Deletes the remote assignment this resource manages, if it should.
async fn delete_remote(
    ra: &RoleAssignment,
    ctx: &Context,
    key: &str,
) -> Result<Option<Removed>, Failure> {
    if !deletes_remote(&ra.spec) {
        return Ok(None);
    }
    let target = ra.spec.provider.target()?;
    let ns = ra.namespace().unwrap_or_default();
    let Resolved { config, client } = ctx
        .configs
        .resolve(&ns, &ra.spec.provider_config_ref, target.kind())
        .await?;
    let client = client.as_ref();
    if ctx
        .owner_of(&claim_key(&config, &target.natural_key))
        .is_some_and(|owner| owner != key)
    {
        return Ok(None);
    }
    if !applied(ra) {
        // The remote may still hold what an earlier generation asked for, which the
        // delete below would not recognise as this resource's (Hyperstack leaves a role it
        // did not expect in place, and an earlier spec's assignment is only found through
        // that spec): apply the spec first. A spec that can never be applied must not
        // block the deletion, so only retryable failures stop here.
        match sync(ra, ctx, key, &target, ctx.default_poll).await {
            Err(failure) if failure.retryable() => return Err(failure),
            _ => {}
        }
    }
    let known = ra
        .status
        .as_ref()
        .and_then(|s| s.external_id.clone())
        .or(ra.spec.external_id.clone())
        .map(ExternalId::new);
    let id = match known {
        Some(id) => id,
        // Nothing recorded: a crash may have hit between a create and its status write,
        // so look the assignment up by its natural key in fresh data.
        None => match client
            .observe(&target.desired, None, FRESH)
            .await
            .map_err(provider("observe"))?
        {
            Some(o) => o.external_id,
            None => return Ok(None),
        },
    };
    let deletion = client
        .delete(&id, &target.desired)
        .await
        .map_err(provider("delete"))?;
    // A replacement cut short by a crash leaves the new assignment made but not yet
    // recorded: it is this resource's too and must not outlive it.
    if let Some(unrecorded) = client
        .observe(&target.desired, None, FRESH)
        .await
        .map_err(provider("observe"))?
        .filter(|o| o.external_id != id)
    {
        client
            .delete(&unrecorded.external_id, &target.desired)
            .await
            .map_err(provider("delete"))?;
    }
    Ok(Some(Removed { id, deletion }))
}

/// Status's Ready condition when it is True, for whichever generation.
fn ready(ra: &RoleAssignment) -> Option<&Condition> {
    let status = ra.status.as_ref()?;
    conditions::find(&status.conditions, READY).filter(|c| c.status == ConditionStatus::True)
}

/// Whether status says Ready=True (for any generation).
pub fn is_ready(ra: &RoleAssignment) -> bool {
    ready(ra).is_some()
}

/// Whether the last reconcile brought the remote in line with the current generation.
fn applied(ra: &RoleAssignment) -> bool {
    ready(ra).is_some_and(|c| c.observed_generation == ra.metadata.generation)
}

async fn publish(ctx: &Context, ra: &RoleAssignment, event: Event) {
    if let Err(e) = ctx.writes.publish(ra, event).await {
        warn!(object = %object_key(ra), error = %e, "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(id: &str, up_to_date: bool) -> Observed {
        Observed {
            external_id: ExternalId::new(id),
            at_provider: serde_json::Value::Null,
            up_to_date,
        }
    }

    const ALL: Allowed = Allowed {
        create: true,
        update: true,
        delete: true,
    };
    const OBSERVE: Allowed = Allowed {
        create: false,
        update: false,
        delete: false,
    };

    #[test]
    fn absent_is_created_only_when_allowed() {
        assert_eq!(plan(None, None, ALL, true), Step::Create);
        assert_eq!(
            plan(None, Some("7"), ALL, true),
            Step::Create,
            "deleted remotely: recreate"
        );
        assert_eq!(plan(None, None, OBSERVE, true), Step::ReportMissing);
    }

    #[test]
    fn matching_is_kept_and_adoption_noticed() {
        let keep = |recorded| plan(Some(observed("7", true)), recorded, ALL, true);
        assert!(matches!(keep(Some("7")), Step::Keep { adopted: false, .. }));
        assert!(matches!(keep(None), Step::Keep { adopted: true, .. }));
        assert!(matches!(keep(Some("6")), Step::Keep { adopted: true, .. }));
    }

    #[test]
    fn drift_is_updated_or_replaced_as_the_provider_allows() {
        let drifted = || Some(observed("7", false));
        assert!(
            matches!(plan(drifted(), Some("7"), ALL, true), Step::Update(o) if o.external_id.as_str() == "7")
        );
        assert!(matches!(
            plan(drifted(), Some("7"), ALL, false),
            Step::Replace(_)
        ));
        let no_delete = Allowed {
            delete: false,
            ..ALL
        };
        assert!(matches!(
            plan(drifted(), Some("7"), no_delete, false),
            Step::Keep { adopted: false, .. }
        ));
        assert!(matches!(
            plan(drifted(), Some("7"), no_delete, true),
            Step::Update(_)
        ));
        assert!(matches!(
            plan(drifted(), Some("7"), OBSERVE, true),
            Step::Keep { adopted: false, .. }
        ));
    }

    #[test]
    fn policies_map_to_allowed_operations() {
        let all = Allowed::from_policies(&[ManagementPolicy::All]);
        assert!(all.create && all.update && all.delete);
        let observe = Allowed::from_policies(&[ManagementPolicy::Observe]);
        assert!(!observe.create && !observe.update && !observe.delete);
        let no_delete = Allowed::from_policies(&[
            ManagementPolicy::Observe,
            ManagementPolicy::Create,
            ManagementPolicy::Update,
        ]);
        assert!(no_delete.create && no_delete.update && !no_delete.delete);
    }
}
