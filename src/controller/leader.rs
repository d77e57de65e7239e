//! Leader election on a `coordination.k8s.io/v1` Lease, so several replicas can run and
//! only one reconciles. Updates are compare-and-swap on resourceVersion.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, ResourceExt};
use tokio::sync::watch;
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// How long a holder's claim lasts without renewal; a successor waits this long.
    pub duration: Duration,
}

/// What to do with the lease as it stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, it expired, or we do: write ourselves in.
    Take,
    /// Someone else holds it for this much longer.
    Wait(Duration),
}

/// Pure decision from the lease's spec at `now`.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: jiff::Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Take;
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() || holder == me {
        return Decision::Take;
    }
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return Decision::Take;
    };
    let secs = spec.lease_duration_seconds.unwrap_or(15).max(1);
    let expires = renewed.0 + jiff::SignedDuration::from_secs(i64::from(secs));
    if expires <= now {
        Decision::Take
    } else {
        let left = now.duration_until(expires).unsigned_abs();
        Decision::Wait(left)
    }
}

/// Leadership held; `lost` fires when a renewal fails for longer than the lease lasts.
pub struct Leadership {
    pub lost: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
    api: Api<Lease>,
    settings: LeaseSettings,
}

impl Leadership {
    /// Hands the lease back so a successor need not wait for it to expire.
    pub async fn release(self) {
        self.task.abort();
        if let Ok(mut lease) = self.api.get(&self.settings.name).await
            && let Some(spec) = lease.spec.as_mut()
            && spec.holder_identity.as_deref() == Some(&self.settings.identity)
        {
            spec.holder_identity = None;
            spec.renew_time = None;
            spec.acquire_time = None;
            let name = lease.name_any();
            if let Err(e) = self
                .api
                .replace(&name, &PostParams::default(), &lease)
                .await
            {
                warn!(error = %e, "could not release the leader lease");
            }
        }
    }
}

/// Waits until this replica holds the lease, then keeps renewing it in the background.
pub async fn acquire(client: kube::Client, settings: LeaseSettings) -> Leadership {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    let retry = settings.duration / 3;
    loop {
        match try_take(&api, &settings).await {
            Ok(Decision::Take) => break,
            Ok(Decision::Wait(left)) => {
                tokio::time::sleep(left.min(retry).max(Duration::from_millis(200))).await
            }
            Err(e) => {
                warn!(error = %e, "leader election failed; retrying");
                tokio::time::sleep(retry).await;
            }
        }
    }
    info!(identity = %settings.identity, lease = %settings.name, "became leader");
    let (tx, lost) = watch::channel(false);
    let task = tokio::spawn(renew(api.clone(), settings.clone(), tx));
    Leadership {
        lost,
        task,
        api,
        settings,
    }
}

async fn renew(api: Api<Lease>, settings: LeaseSettings, lost: watch::Sender<bool>) {
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(settings.duration / 3).await;
        match try_take(&api, &settings).await {
            Ok(Decision::Take) => last_ok = tokio::time::Instant::now(),
            Ok(Decision::Wait(_)) => {
                warn!("another replica took the leader lease");
                let _ = lost.send(true);
                return;
            }
            Err(e) => {
                warn!(error = %e, "renewing the leader lease failed");
                if last_ok.elapsed() >= settings.duration {
                    let _ = lost.send(true);
                    return;
                }
            }
        }
    }
}

/// One compare-and-swap attempt; `Take` means we now hold the lease.
async fn try_take(api: &Api<Lease>, settings: &LeaseSettings) -> Result<Decision, kube::Error> {
    let now = jiff::Timestamp::now();
    let existing = api.get_opt(&settings.name).await?;
    let decision = decide(
        existing.as_ref().and_then(|l| l.spec.as_ref()),
        &settings.identity,
        now,
    );
    if decision != Decision::Take {
        return Ok(decision);
    }
    let secs = i32::try_from(settings.duration.as_secs().max(1)).unwrap_or(i32::MAX);
    match existing {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(settings.name.clone()),
                    namespace: Some(settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(settings.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Decision::Take),
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    Ok(Decision::Wait(settings.duration / 3))
                }
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(&settings.identity) {
                spec.acquire_time = Some(MicroTime(now));
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            spec.holder_identity = Some(settings.identity.clone());
            spec.lease_duration_seconds = Some(secs);
            spec.renew_time = Some(MicroTime(now));
            let name = lease.name_any();
            match api.replace(&name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(Decision::Take),
                // Someone else wrote the lease first.
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    Ok(Decision::Wait(settings.duration / 3))
                }
                Err(e) => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: jiff::Timestamp, secs: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(renewed)),
            lease_duration_seconds: Some(secs),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn free_or_own_lease_is_taken() {
        let now = jiff::Timestamp::now();
        assert_eq!(decide(None, "a", now), Decision::Take);
        assert_eq!(decide(Some(&spec("a", now, 15)), "a", now), Decision::Take);
        assert_eq!(decide(Some(&spec("", now, 15)), "a", now), Decision::Take);
    }

    #[test]
    fn someone_elses_live_lease_is_respected() {
        let now = jiff::Timestamp::now();
        match decide(Some(&spec("b", now, 15)), "a", now) {
            Decision::Wait(d) => {
                assert!(d <= Duration::from_secs(15) && d > Duration::from_secs(14))
            }
            Decision::Take => panic!("took a live lease"),
        }
    }

    #[test]
    fn expired_lease_is_taken() {
        let now = jiff::Timestamp::now();
        let old = now - jiff::SignedDuration::from_secs(16);
        assert_eq!(decide(Some(&spec("b", old, 15)), "a", now), Decision::Take);
    }
}
