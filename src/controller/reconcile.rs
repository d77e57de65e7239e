//! One reconcile of one RoleAssignment: observe the remote assignment, create / update /
//! replace / delete it as the spec and management policies allow, and write status only
//! when it changed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use kube::ResourceExt;
use tracing::{Instrument, info, warn};

use super::applying::{Applying, applying};
use super::backoff::{Backoff, FailureCounts, IntervalError, jittered, parse_interval};
use super::claims::Claims;
use super::conditions::{self, DRIFTED, READY, SYNCED, Wanted};
use super::config_status::Verdict;
use super::configs::{ConfigError, ConfigKey, ConfigResolver, Configs, Resolved};
use super::events::{Event, Reason};
use super::revocations::{Reservation, RevocationLimit};
use super::window::{Phase, Window, until};
use super::writes::Writes;
use crate::api::{
    ALLOW_REVOCATIONS_ANNOTATION, AtProvider, Condition, ConditionStatus, DeletionPolicy,
    FINALIZER, ManagementPolicy, PAUSED_ANNOTATION, POLL_INTERVAL_ANNOTATION, RoleAssignment,
    RoleAssignmentSpec, RoleAssignmentStatus,
};
use crate::metrics::Metrics;
use crate::providers::{
    Connection, Deletion, Desired, Difference, ExternalId, Freshness, Observed, ProviderError,
    SpecError, Target,
};

/// Ready's reason once `spec.expiresAt` has passed.
const EXPIRED: &str = "Expired";
/// Synced's reason for a resource outside its provider config's guardrails.
const NOT_PERMITTED: &str = "NotPermitted";

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
    /// Outside what the provider config allows: nothing is sent to the provider.
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// The config's revocation limit is used up for the hour; retried when a slot frees.
    #[error(
        "{config} allows {max} revocations per hour (spec.revocationLimit) and they are used up: the remote assignment stays until the hour allows another or the config is annotated {ALLOW_REVOCATIONS_ANNOTATION}"
    )]
    Throttled {
        config: String,
        max: u32,
        frees_at: Timestamp,
    },
    #[error("recording a revocation in the provider config's status: {0}")]
    RecordRevocation(#[source] kube::Error),
}

impl Failure {
    fn retryable(&self) -> bool {
        match self {
            Self::Spec(_)
            | Self::Annotation(_)
            | Self::NotPermitted(_)
            | Self::Throttled { .. } => false,
            Self::Config(e) => e.is_retryable(),
            Self::Provider { source, .. } => source.is_retryable(),
            Self::Record(_) | Self::RecordRevocation(_) => true,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::Spec(_) | Self::Annotation(_) => "InvalidSpec",
            Self::Config(e) => e.reason(),
            Self::Provider { source, .. } => source.reason(),
            Self::Record(_) | Self::RecordRevocation(_) => "KubernetesError",
            Self::NotPermitted(_) => NOT_PERMITTED,
            Self::Throttled { .. } => "RevocationThrottled",
        }
    }

    /// When trying again can first succeed, where that is known.
    fn retry_at(&self) -> Option<Timestamp> {
        match self {
            Self::Throttled { frees_at, .. } => Some(*frees_at),
            _ => None,
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
    /// Before `spec.notBefore` (`at`): nothing is granted.
    Scheduled {
        at: Timestamp,
        grant: Withdrawal,
    },
    /// From `spec.expiresAt` (`at`) on: the grant is revoked, and the resource stays as
    /// the record of it.
    Expired {
        at: Timestamp,
        grant: Withdrawal,
    },
}

/// What being outside the time window did to the remote assignment.
enum Withdrawal {
    /// Nothing rolesync knows of is granted (any more).
    Absent,
    /// Revoked by this pass.
    Revoked(Removed),
    /// Granted, and the management policies do not allow deleting it.
    Kept,
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

impl Step {
    /// What observe found.
    pub fn found(&self) -> Option<&Observed> {
        match self {
            Self::Create | Self::ReportMissing => None,
            Self::Keep { observed, .. } | Self::Update(observed) | Self::Replace(observed) => {
                Some(observed)
            }
        }
    }
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
        Some(o) if o.up_to_date() || !allowed.update => Step::Keep {
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

/// What someone other than rolesync changed at the provider since rolesync last put the
/// assignment in place.
#[derive(Clone, Debug, PartialEq)]
pub enum Drift {
    Deleted,
    Changed(Vec<Difference>),
}

impl Drift {
    /// `role Observer -> Admin`, `assignment deleted`: from what rolesync put in place to
    /// what is there now.
    pub fn describe(&self) -> String {
        match self {
            Self::Deleted => "assignment deleted".to_owned(),
            Self::Changed(differences) => differences
                .iter()
                .map(Difference::drifted)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// How what observe `found` differs from the spec, if it does. `in_place` says rolesync had
/// put the current spec's assignment in place (or already reported how it differs): then a
/// difference or an absence is someone else's doing, drift; otherwise it is what a first
/// create, an adoption or a spec change is about to deal with.
pub fn diverged(found: Option<&Observed>, in_place: bool) -> Option<Found> {
    let drift = match found {
        None if in_place => Drift::Deleted,
        None => return None,
        Some(o) if !o.up_to_date() => Drift::Changed(o.differences.clone()),
        Some(_) => return None,
    };
    Some(Found {
        drift,
        by_someone_else: in_place,
        repaired: false,
    })
}

/// How the remote assignment differed from the spec when a pass looked, and whether the
/// pass repaired it.
#[derive(Debug, PartialEq)]
pub struct Found {
    pub drift: Drift,
    /// Changed since rolesync had it in place, rather than found so at adoption or with
    /// a policy that never let rolesync make it so.
    pub by_someone_else: bool,
    pub repaired: bool,
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

pub(super) fn object_key(ra: &RoleAssignment) -> String {
    format!("{}/{}", ra.namespace().unwrap_or_default(), ra.name_any())
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

/// What a pass ends with: the conditions it wants, when to look again (`None`: only on a
/// change), and what to tell.
struct Decision {
    wanted: Vec<Wanted>,
    requeue: Option<Duration>,
    event: Option<Event>,
}

/// Reconciles `ra` once; `Ok` says when to look at it again unchanged (`None`: only on a
/// change).
pub async fn reconcile(
    ra: Arc<RoleAssignment>,
    ctx: Arc<Context>,
) -> Result<Option<Duration>, Error> {
    let key = object_key(&ra);
    let span = tracing::info_span!("reconcile", object = %key, generation = ra.metadata.generation);
    reconcile_one(&ra, &ctx, key).instrument(span).await
}

async fn reconcile_one(
    ra: &RoleAssignment,
    ctx: &Context,
    key: String,
) -> Result<Option<Duration>, Error> {
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
            return Ok(Some(ctx.default_poll));
        }
    }

    let poll = match ra.annotations().get(POLL_INTERVAL_ANNOTATION) {
        Some(v) => parse_interval(v),
        None => Ok(ctx.default_poll),
    };
    let now = Timestamp::now();
    let mut seen = None;
    let result = match (&poll, &target) {
        (Ok(poll), Ok(target)) => sync(ra, ctx, &key, target, *poll, now, &mut seen).await,
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
        // A name the provider reported for this spec's role stays until the spec changes.
        if status.role.is_none() || old.observed_generation != ra.metadata.generation {
            status.role = Some(t.role.clone());
        }
        status.principal = Some(t.principal.clone());
    }
    status.observed_generation = ra.metadata.generation;
    let (drifted, drift_event) = match &target {
        Some(t) => report_drift(ctx, &key, &old, &mut status, seen, &result, t),
        None => (None, None),
    };
    let mut decision = match result {
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
    decision.wanted.extend(drifted);
    // Grant and revoke on time: wake at the window's next instant (as this pass saw the
    // window), not at the next resync.
    if let (Some(requeue), Ok(Some(next))) = (
        decision.requeue,
        Window::of(&ra.spec).map(|w| w.next_change(now)),
    ) {
        decision.requeue = Some(requeue.min(until(Timestamp::now(), next)));
    }
    conclude(ctx, ra, status, decision, drift_event).await
}

/// What a pass tells of drift: the Drifted condition while the remote differs from the
/// spec unrepaired (`None` leaves it as it is), and, the first time a drift by someone
/// else is seen, an Event, the metric and `status.lastDriftTime`. A drift is the same while
/// Drifted's message is, so one that cannot be repaired is reported once, not on every
/// resync.
fn report_drift(
    ctx: &Context,
    key: &str,
    old: &RoleAssignmentStatus,
    status: &mut RoleAssignmentStatus,
    seen: Option<Found>,
    result: &Result<Outcome, Failure>,
    target: &Target,
) -> (Option<Wanted>, Option<Event>) {
    let reported =
        conditions::find(&old.conditions, DRIFTED).filter(|c| c.status == ConditionStatus::True);
    let repaired_now = || Wanted::new(DRIFTED, ConditionStatus::False, "Repaired", "");
    let Some(Found {
        drift,
        by_someone_else,
        repaired,
    }) = seen
    else {
        // Paused and conflicting passes look at nothing remote: they say nothing of drift.
        let looked = matches!(
            result,
            Ok(Outcome::Available { .. }
                | Outcome::Missing
                | Outcome::Scheduled { .. }
                | Outcome::Expired { .. })
        );
        // Looked and found nothing amiss: whatever differed was put back.
        let resolved = (looked && reported.is_some())
            .then(|| Wanted::new(DRIFTED, ConditionStatus::False, "Resolved", ""));
        return (resolved, None);
    };
    let what = drift.describe();
    let standing = reported.is_some_and(|c| c.message == what);
    let event = (by_someone_else && !standing).then(|| {
        let provider = target.kind().as_str();
        ctx.metrics.drifted(provider);
        status.last_drift_time = Some(now());
        warn!(object = %key, %provider, drift = %what, repaired, "remote assignment changed by someone else");
        let outcome = if repaired {
            "repaired"
        } else if result.is_err() {
            "not repaired yet: the repair failed and is retried"
        } else {
            "not repaired: managementPolicies do not allow it"
        };
        Event::new(Reason::DriftDetected, format!("{what}; {outcome}"))
    });
    let wanted = match (repaired, by_someone_else) {
        // Already told, by whichever reason it was first seen with.
        (false, _) if standing => None,
        (false, true) => Some(Wanted::new(DRIFTED, ConditionStatus::True, "Drifted", what)),
        // Never in place since the spec asked for it (adopted so, or the policies never
        // let rolesync make it so): shown, but nobody changed anything.
        (false, false) => Some(Wanted::new(DRIFTED, ConditionStatus::True, "Differs", what)),
        (true, true) => Some(repaired_now()),
        // A first create or a spec change applied: nothing to tell unless Drifted said
        // otherwise before.
        (true, false) => reported.map(|_| repaired_now()),
    };
    (wanted, event)
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
    let requeue = match failure.retry_at() {
        Some(at) => until(Timestamp::now(), at),
        None if failure.retryable() => ctx.backoff.delay(ctx.failures.fail(key), rand::random()),
        None => jittered(poll, rand::random()),
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
    if let (true, Failure::Throttled { config, .. }) = (changed, failure) {
        ctx.metrics.revocation_held(config);
    }
    Decision {
        wanted: std::iter::once(synced).chain(ready).collect(),
        requeue: Some(requeue),
        event,
    }
}

/// Writes the status a pass decided on (when it changed) and publishes its Event.
async fn conclude(
    ctx: &Context,
    ra: &RoleAssignment,
    mut status: RoleAssignmentStatus,
    decision: Decision,
    drift: Option<Event>,
) -> Result<Option<Duration>, Error> {
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
    // Only once status records the drift: a failed write sees it again as new.
    for event in drift.into_iter().chain(decision.event) {
        publish(ctx, ra, event).await;
    }
    Ok(decision.requeue)
}

fn outcome_status(
    outcome: Outcome,
    status: &mut RoleAssignmentStatus,
    ctx: &Context,
    poll: Duration,
) -> Decision {
    let resync = Some(jittered(poll, rand::random()));
    let synced_ok = Wanted::new(SYNCED, ConditionStatus::True, "ReconcileSuccess", "");
    match outcome {
        Outcome::Available { observed, event } => {
            ctx.metrics.reconciled("success");
            status.external_id = Some(observed.external_id.to_string());
            status.at_provider = Some(AtProvider::new(observed.at_provider));
            if let Some(name) = observed.role_name {
                status.role = Some(name);
            }
            Decision {
                wanted: vec![
                    Wanted::new(READY, ConditionStatus::True, "Available", ""),
                    synced_ok,
                ],
                requeue: resync,
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
                requeue: resync,
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
                requeue: resync,
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
                requeue: None,
                event: None,
            }
        }
        Outcome::Scheduled { at, grant } => {
            ctx.metrics.reconciled("success");
            let (message, event) = match &grant {
                Withdrawal::Kept => (
                    format!(
                        "granted from {at} (spec.notBefore); managementPolicies do not allow deleting, so the assignment granted earlier stays"
                    ),
                    None,
                ),
                Withdrawal::Revoked(removed) => (
                    format!("granted from {at} (spec.notBefore)"),
                    Some(Event::new(
                        Reason::Scheduled,
                        format!("{}: spec.notBefore is {at}", removed.describe()),
                    )),
                ),
                Withdrawal::Absent => (format!("granted from {at} (spec.notBefore)"), None),
            };
            withdraw(status, &grant);
            Decision {
                wanted: vec![
                    Wanted::new(READY, ConditionStatus::False, "Scheduled", message),
                    synced_ok,
                ],
                // The window's instant comes sooner; see reconcile_one.
                requeue: resync,
                event,
            }
        }
        Outcome::Expired { at, grant } => {
            ctx.metrics.reconciled("success");
            let message = match &grant {
                Withdrawal::Kept => format!(
                    "expired at {at} (spec.expiresAt); managementPolicies do not allow deleting, so the assignment stays at the provider"
                ),
                Withdrawal::Revoked(_) | Withdrawal::Absent => {
                    format!("expired at {at} (spec.expiresAt): nothing is granted any more")
                }
            };
            let is_new =
                conditions::find(&status.conditions, READY).is_none_or(|c| c.reason != EXPIRED);
            let event = is_new.then(|| {
                let note = match &grant {
                    Withdrawal::Revoked(removed) => {
                        format!("expired at {at}: {}", removed.describe())
                    }
                    Withdrawal::Absent => format!("expired at {at}: nothing was granted"),
                    Withdrawal::Kept => format!(
                        "expired at {at}: left in place (managementPolicies do not allow deleting)"
                    ),
                };
                Event::new(Reason::Expired, note)
            });
            withdraw(status, &grant);
            Decision {
                wanted: vec![
                    Wanted::new(READY, ConditionStatus::False, EXPIRED, message),
                    synced_ok,
                ],
                // The resource is now the record: nothing to resync.
                requeue: None,
                event,
            }
        }
    }
}

/// Status after leaving the window: what status named is gone unless it was kept.
fn withdraw(status: &mut RoleAssignmentStatus, grant: &Withdrawal) {
    if !matches!(grant, Withdrawal::Kept) {
        status.external_id = None;
        status.at_provider = None;
    }
}

/// Brings the remote assignment in line with the spec.
async fn sync(
    ra: &RoleAssignment,
    ctx: &Context,
    key: &str,
    target: &Target,
    poll: Duration,
    now: Timestamp,
    seen: &mut Option<Found>,
) -> Result<Outcome, Failure> {
    if paused(ra) {
        return Ok(Outcome::Paused);
    }
    let window = Window::of(&ra.spec)?;
    let ns = ra.namespace().unwrap_or_default();
    let resolved = ctx
        .configs
        .resolve(&ns, &ra.spec.provider_config_ref, target.kind())
        .await?;
    resolved
        .guard
        .permits(target)
        .map_err(Failure::NotPermitted)?;
    let (config, client) = (&resolved.config, resolved.client.as_ref());
    if let Some(owner) = ctx.owner_of(&claim_key(config, &target.natural_key))
        && owner != key
    {
        return Ok(Outcome::Conflict { owner });
    }
    let allowed = Allowed::from_policies(&ra.spec.management_policies);
    match window.phase(now) {
        Phase::Before(at) => return schedule(ctx, ra, key, &resolved, target, allowed, at).await,
        Phase::After(at) => return expire(ctx, ra, key, &resolved, target, allowed, at).await,
        Phase::Within => {}
    }
    let recorded = recorded(ra);
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
            let claim = claim_key(config, &earlier.natural_key);
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
    let step = decide(
        client,
        want,
        known.as_ref(),
        recorded.as_deref(),
        allowed,
        freshness,
    )
    .await
    .map_err(provider("observe"))?;
    // Reported whether or not this pass gets to repair it, hence out of band of the result.
    *seen = diverged(step.found(), recorded.is_some() && in_place(ra));
    let repairs = matches!(step, Step::Create | Step::Update(_) | Step::Replace(_));
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
    if let Some(found) = seen {
        found.repaired = repairs;
    }
    Ok(outcome)
}

/// The deciding half of a pass: observes the remote assignment and chooses the step, with
/// no write anywhere. `rolesync plan` calls it too, so that it shows what a reconcile would
/// do. `known` is the assignment the resource names, `recorded` the one status records.
pub async fn decide(
    client: &dyn Connection,
    want: &Desired,
    known: Option<&ExternalId>,
    recorded: Option<&str>,
    allowed: Allowed,
    freshness: Freshness,
) -> Result<Step, ProviderError> {
    let mut found = client.observe(want, known, freshness).await?;
    if found.is_none() && (known.is_some() || !(allowed.create && client.create_is_idempotent())) {
        // A cached list may predate an assignment someone just made: confirm the absence
        // with fresh data before creating (where that could duplicate a grant), reporting
        // it missing, or giving up on the assignment the resource names (it is adopted,
        // not created again).
        found = client.observe(want, known, FRESH).await?;
    }
    Ok(plan(found, recorded, allowed, client.updates_in_place()))
}

/// What a reconcile of `ra` would do at the provider now, as `rolesync plan` shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Preview {
    Create,
    /// Changed in place, field by field.
    Update(Vec<Difference>),
    /// A new assignment made, then the old one revoked.
    Replace(Vec<Difference>),
    /// Exists as wanted and gets recorded in status: nothing changes remotely.
    Adopt(ExternalId),
    Nothing,
    /// Differs from the spec or is absent, and the management policies forbid the change.
    PolicyForbids(String),
    /// An older RoleAssignment manages the same remote assignment.
    Conflict {
        owner: String,
    },
    /// Outside the provider config's guardrails: nothing would be sent to the provider.
    NotPermitted(String),
    Paused,
    /// Outside the time window: what status records gets revoked.
    Revoke(ExternalId),
    /// The reconcile would fail this way (the condition reason and message).
    Failed {
        reason: &'static str,
        message: String,
    },
}

/// What a reconcile of `ra` would do remotely, decided as [`sync`] decides (the same checks
/// in the same order, then [`decide`]) but without writing: no provider write, no status.
/// `owner` is the RoleAssignment that owns the claim on its remote assignment, if any;
/// `poll` how old a cached list may be.
pub async fn preview(
    ra: &RoleAssignment,
    configs: &ConfigResolver,
    owner: Option<String>,
    poll: Duration,
) -> Preview {
    let failed = |f: Failure| Preview::Failed {
        reason: f.reason(),
        message: f.to_string(),
    };
    if paused(ra) {
        return Preview::Paused;
    }
    let target = match ra.spec.provider.target() {
        Ok(t) => t,
        Err(e) => return failed(e.into()),
    };
    let window = match Window::of(&ra.spec) {
        Ok(w) => w,
        Err(e) => return failed(e.into()),
    };
    let ns = ra.namespace().unwrap_or_default();
    let resolved = match configs
        .resolve(&ns, &ra.spec.provider_config_ref, target.kind())
        .await
    {
        Ok(r) => r,
        Err(e) => return failed(e.into()),
    };
    if let Err(why) = resolved.guard.permits(&target) {
        return Preview::NotPermitted(why);
    }
    if let Some(owner) = owner.filter(|o| *o != object_key(ra)) {
        return Preview::Conflict { owner };
    }
    let allowed = Allowed::from_policies(&ra.spec.management_policies);
    let recorded = recorded(ra);
    match window.phase(Timestamp::now()) {
        Phase::Before(_) => {
            return match recorded {
                Some(id) if allowed.delete => Preview::Revoke(ExternalId::new(id)),
                _ => Preview::Nothing,
            };
        }
        Phase::After(_) => {
            return match held(ra) {
                Some(id) if allowed.delete && !expired(ra) => Preview::Revoke(id),
                _ => Preview::Nothing,
            };
        }
        Phase::Within => {}
    }
    let known = held(ra);
    let step = decide(
        resolved.client.as_ref(),
        &target.desired,
        known.as_ref(),
        recorded.as_deref(),
        allowed,
        Freshness { max_age: poll },
    )
    .await;
    match step {
        Err(e) => failed(provider("observe")(e)),
        Ok(Step::Create) => Preview::Create,
        Ok(Step::ReportMissing) => Preview::PolicyForbids(
            "absent at the provider, and managementPolicies do not allow creating it".to_owned(),
        ),
        Ok(Step::Update(o)) => Preview::Update(o.differences),
        Ok(Step::Replace(o)) => Preview::Replace(o.differences),
        Ok(Step::Keep { observed, .. }) if !observed.up_to_date() => {
            let differs = observed
                .differences
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            Preview::PolicyForbids(format!(
                "differs ({differs}), and managementPolicies do not allow changing it"
            ))
        }
        Ok(Step::Keep {
            observed,
            adopted: true,
        }) => Preview::Adopt(observed.external_id),
        Ok(Step::Keep { .. }) => Preview::Nothing,
    }
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
        Some(o) if o.up_to_date() => Some(o.external_id),
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
        .filter(|n| n.up_to_date() && n.external_id != old.external_id);
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

/// Before `spec.notBefore` nothing is granted. What status records was granted before
/// notBefore moved later and is revoked, within the config's revocation limit; nothing
/// else is looked up, so a grant rolesync never made or adopted is left alone (and adopted
/// at notBefore).
async fn schedule(
    ctx: &Context,
    ra: &RoleAssignment,
    key: &str,
    resolved: &Resolved,
    target: &Target,
    allowed: Allowed,
    at: Timestamp,
) -> Result<Outcome, Failure> {
    let Some(id) = recorded(ra) else {
        return Ok(Outcome::Scheduled {
            at,
            grant: Withdrawal::Absent,
        });
    };
    if !allowed.delete {
        return Ok(Outcome::Scheduled {
            at,
            grant: Withdrawal::Kept,
        });
    }
    let limit = resolved.guard.revocations;
    let grant = match revoke(
        ctx,
        ra,
        key,
        resolved,
        target,
        Some(ExternalId::new(id)),
        limit,
    )
    .await?
    {
        Some(removed) => {
            info!(object = %key, external_id = %removed.id, %at, "revoked: access starts at spec.notBefore");
            Withdrawal::Revoked(removed)
        }
        None => Withdrawal::Absent,
    };
    Ok(Outcome::Scheduled { at, grant })
}

/// From `spec.expiresAt` on, the grant is revoked whatever `deletionPolicy` says (it
/// governs deleting the resource only), unless the policies forbid deleting; it is never
/// held back by a revocation limit, as the expiry was asked for. Once status says it
/// expired, nothing remote is done again: the resource is the record.
async fn expire(
    ctx: &Context,
    ra: &RoleAssignment,
    key: &str,
    resolved: &Resolved,
    target: &Target,
    allowed: Allowed,
    at: Timestamp,
) -> Result<Outcome, Failure> {
    let grant = if expired(ra) {
        Withdrawal::Absent
    } else if !allowed.delete {
        match recorded(ra) {
            Some(_) => Withdrawal::Kept,
            None => Withdrawal::Absent,
        }
    } else {
        match revoke(ctx, ra, key, resolved, target, held(ra), None).await? {
            Some(removed) => {
                info!(object = %key, external_id = %removed.id, %at, "revoked: spec.expiresAt passed");
                Withdrawal::Revoked(removed)
            }
            None => Withdrawal::Absent,
        }
    };
    Ok(Outcome::Expired { at, grant })
}

/// What a revocation did remotely.
struct Removed {
    id: ExternalId,
    deletion: Deletion,
}

impl Removed {
    fn describe(&self) -> String {
        let id = &self.id;
        match &self.deletion {
            Deletion::Deleted => format!("revoked {id}"),
            Deletion::AlreadyGone => format!("{id} was already gone"),
            Deletion::LeftAlone(found) => format!("left {id} in place: {found}"),
        }
    }
}

/// Revokes the remote assignment this resource holds: `known`, else the one its natural
/// key finds in fresh data (a crash may have lost the record). Under a revocation `limit`
/// it first takes a slot of the config's sliding hour, or waits for one.
async fn revoke(
    ctx: &Context,
    ra: &RoleAssignment,
    key: &str,
    resolved: &Resolved,
    target: &Target,
    known: Option<ExternalId>,
    limit: Option<RevocationLimit>,
) -> Result<Option<Removed>, Failure> {
    let client = resolved.client.as_ref();
    let id = match known {
        Some(id) => id,
        None => match client
            .observe(&target.desired, None, FRESH)
            .await
            .map_err(provider("observe"))?
        {
            Some(o) => o.external_id,
            None => return Ok(None),
        },
    };
    if let Some(limit) = limit {
        let ns = ra.namespace().unwrap_or_default();
        let reservation = ctx
            .configs
            .reserve_revocation(&ns, &ra.spec.provider_config_ref, limit)
            .await
            .map_err(Failure::RecordRevocation)?;
        if let Reservation::Held { frees_at } = reservation {
            info!(object = %key, external_id = %id, %frees_at, "revocation held by the config's revocation limit");
            return Err(Failure::Throttled {
                config: resolved.config.as_str().to_owned(),
                max: limit.max_per_hour,
                frees_at,
            });
        }
    }
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

/// What deleting a resource did remotely.
enum Released {
    Nothing,
    Removed(Removed),
    /// The config's guardrails do not allow this resource: nothing is sent to the
    /// provider, so what it granted stays.
    NotPermitted(String),
}

/// Deletion: remove the remote assignment when the policies say so, then the finalizer.
async fn finalize(
    ra: &RoleAssignment,
    ctx: &Context,
    key: &str,
) -> Result<Option<Duration>, Error> {
    if !ra.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(None);
    }
    match delete_remote(ra, ctx, key).await {
        Ok(released) => {
            ctx.writes
                .set_finalizer(ra, false, false)
                .await
                .map_err(|source| Error::kube(ra, source))?;
            ctx.failures.succeed(key);
            ctx.metrics.reconciled("deleted");
            let event = match released {
                Released::Removed(Removed {
                    id,
                    deletion: Deletion::Deleted,
                }) => {
                    info!(object = %key, external_id = %id, "deleted remote assignment");
                    Some(Event::new(
                        Reason::Deleted,
                        format!("deleted remote assignment {id}"),
                    ))
                }
                Released::Removed(Removed {
                    id,
                    deletion: Deletion::LeftAlone(found),
                }) => {
                    warn!(object = %key, external_id = %id, %found, "left a remote assignment rolesync did not grant");
                    Some(Event::new(
                        Reason::LeftInPlace,
                        format!("left {id} in place: {found}"),
                    ))
                }
                Released::NotPermitted(why) => recorded(ra).map(|id| {
                    warn!(object = %key, external_id = %id, %why, "left a remote assignment the provider config does not permit");
                    Event::new(Reason::LeftInPlace, format!("left {id} in place: {why}"))
                }),
                Released::Removed(Removed {
                    deletion: Deletion::AlreadyGone,
                    ..
                })
                | Released::Nothing => None,
            };
            if let Some(event) = event {
                publish(ctx, ra, event).await;
            }
            Ok(None)
        }
        Err(failure) => {
            let old = ra.status.clone().unwrap_or_default();
            // A held revocation keeps the access it guards: Ready stays as it was.
            let deleting = (!matches!(failure, Failure::Throttled { .. })).then(|| {
                Wanted::new(
                    READY,
                    ConditionStatus::False,
                    "Deleting",
                    "deleting the remote assignment",
                )
            });
            let decision = failed(ctx, key, &old, &failure, ctx.default_poll, deleting);
            conclude(ctx, ra, old, decision, None).await
        }
    }
}

/// Deletes the remote assignment this resource manages, if it should.
async fn delete_remote(ra: &RoleAssignment, ctx: &Context, key: &str) -> Result<Released, Failure> {
    if !deletes_remote(&ra.spec) {
        return Ok(Released::Nothing);
    }
    let target = ra.spec.provider.target()?;
    // A window rolesync cannot read bounds nothing: the resource goes as one without.
    let window = Window::of(&ra.spec).unwrap_or_default();
    let ns = ra.namespace().unwrap_or_default();
    let resolved = ctx
        .configs
        .resolve(&ns, &ra.spec.provider_config_ref, target.kind())
        .await?;
    if let Err(why) = resolved.guard.permits(&target) {
        return Ok(Released::NotPermitted(why));
    }
    if ctx
        .owner_of(&claim_key(&resolved.config, &target.natural_key))
        .is_some_and(|owner| owner != key)
    {
        return Ok(Released::Nothing);
    }
    let now = Timestamp::now();
    let limit = resolved.guard.revocations;
    let (known, limit) = match window.phase(now) {
        // Nothing was granted but what status records (see `schedule`).
        Phase::Before(_) => match recorded(ra) {
            Some(id) => (Some(ExternalId::new(id)), limit),
            None => return Ok(Released::Nothing),
        },
        // The resource is the record of an expiry: deleting it removes nothing more.
        Phase::After(_) if expired(ra) => return Ok(Released::Nothing),
        // An expiry not carried out yet (the operator was away): never held back.
        Phase::After(_) => (held(ra), None),
        Phase::Within => {
            if !applied(ra) {
                // The remote may still hold what an earlier generation asked for, which
                // the delete below would not recognise as this resource's (Hyperstack
                // leaves a role it did not expect in place, and an earlier spec's
                // assignment is only found through that spec): apply the spec first. A
                // spec that can never be applied must not block the deletion, so only
                // retryable failures stop here.
                // Drift of a resource being deleted is not worth reporting.
                match sync(ra, ctx, key, &target, ctx.default_poll, now, &mut None).await {
                    Err(failure) if failure.retryable() => return Err(failure),
                    _ => {}
                }
            }
            (held(ra), limit)
        }
    };
    Ok(revoke(ctx, ra, key, &resolved, &target, known, limit)
        .await?
        .map_or(Released::Nothing, Released::Removed))
}

/// The remote assignment status records.
fn recorded(ra: &RoleAssignment) -> Option<String> {
    ra.status.as_ref().and_then(|s| s.external_id.clone())
}

/// The remote assignment this resource holds, as far as it knows: the one status records,
/// else the one the spec names to adopt.
fn held(ra: &RoleAssignment) -> Option<ExternalId> {
    recorded(ra)
        .or(ra.spec.external_id.clone())
        .map(ExternalId::new)
}

/// Whether status says the grant expired and was revoked (or was never there).
pub fn expired(ra: &RoleAssignment) -> bool {
    let Some(status) = ra.status.as_ref() else {
        return false;
    };
    status.external_id.is_none()
        && conditions::find(&status.conditions, READY).is_some_and(|c| c.reason == EXPIRED)
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

/// Whether status says the provider config's guardrails do not allow the resource.
pub fn not_permitted(ra: &RoleAssignment) -> bool {
    ra.status.as_ref().is_some_and(|s| {
        conditions::find(&s.conditions, SYNCED)
            .is_some_and(|c| c.status == ConditionStatus::False && c.reason == NOT_PERMITTED)
    })
}

/// Whether rolesync had put the current generation's assignment in place: Ready for it,
/// or its drift already reported (Ready may be False since, e.g. when it was deleted).
fn in_place(ra: &RoleAssignment) -> bool {
    applied(ra)
        || ra.status.as_ref().is_some_and(|s| {
            conditions::find(&s.conditions, DRIFTED).is_some_and(|c| {
                c.status == ConditionStatus::True && c.observed_generation == ra.metadata.generation
            })
        })
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
            differences: if up_to_date {
                Vec::new()
            } else {
                vec![crate::providers::Difference::new(
                    "role", "Admin", "Observer",
                )]
            },
            role_name: None,
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
    fn only_what_rolesync_had_in_place_can_drift() {
        let changed = observed("7", false);
        let same = observed("7", true);
        // (why, found, in place, (by someone else, description) expected)
        type Case<'a> = (&'a str, Option<&'a Observed>, bool, Option<(bool, &'a str)>);
        let cases: [Case; 6] = [
            (
                "deleted after being in place",
                None,
                true,
                Some((true, "assignment deleted")),
            ),
            (
                "absent before a first create: nothing to tell",
                None,
                false,
                None,
            ),
            (
                "changed after being in place",
                Some(&changed),
                true,
                Some((true, "role Observer -> Admin")),
            ),
            (
                "found differing at adoption: shown, not drift",
                Some(&changed),
                false,
                Some((false, "role Observer -> Admin")),
            ),
            ("matching", Some(&same), true, None),
            ("matching at adoption", Some(&same), false, None),
        ];
        for (why, found, in_place, want) in cases {
            let got = diverged(found, in_place).map(|f| (f.by_someone_else, f.drift.describe()));
            assert_eq!(got, want.map(|(b, d)| (b, d.to_owned())), "{why}");
        }
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
