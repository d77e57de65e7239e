//! A provider config's `spec.revocationLimit`: at most `maxPerHour` remote revocations in
//! any sliding hour; more wait until the hour allows or an admin confirms them with the
//! config's annotation `rolesync.dev/allow-revocations-until`.
//!
//! The window is the config's `status.recentRevocations`, written before each revocation
//! is sent, so it holds across restarts and leader changes; a revocation interrupted after
//! its record still counts, which errs towards holding back.

use std::collections::{HashMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::json;

use super::configs::ConfigKey;
use crate::api::{ClusterProviderConfig, ConfigKind, ProviderConfig, ProviderConfigRef};

const HOUR: SignedDuration = SignedDuration::from_hours(1);

/// When a revocation at `t` leaves the sliding hour (saturating: a status may hold anything).
fn leaves_the_hour(t: Timestamp) -> Timestamp {
    t.checked_add(HOUR).unwrap_or(Timestamp::MAX)
}

/// A config's limit as it stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationLimit {
    pub max_per_hour: u32,
    /// Until then an admin confirmed revocations beyond the limit.
    pub confirmed_until: Option<Timestamp>,
}

/// Whether a revocation may go ahead now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    Granted,
    /// The hour's revocations are used up; the next slot frees at `frees_at`.
    Held {
        frees_at: Timestamp,
    },
}

/// The revocations of one config in the last hour, oldest first. Only the newest
/// `maxPerHour` matter: the hour is full while the oldest of them is in it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window(VecDeque<Timestamp>);

impl Window {
    /// The window a config's status recorded; entries that do not parse are dropped.
    pub fn seed(recorded: &[String]) -> Self {
        let mut times: Vec<Timestamp> = recorded.iter().filter_map(|t| t.parse().ok()).collect();
        times.sort();
        Self(times.into())
    }

    /// Takes a slot for a revocation at `now`, if the hour has one or it is confirmed.
    /// Confirmed revocations are recorded too: the window counts what was revoked.
    pub fn reserve(&mut self, now: Timestamp, limit: RevocationLimit) -> Reservation {
        self.0.retain(|t| leaves_the_hour(*t) > now);
        let max = usize::try_from(limit.max_per_hour)
            .unwrap_or(usize::MAX)
            .max(1);
        let confirmed = limit.confirmed_until.is_some_and(|until| now < until);
        if self.0.len() >= max && !confirmed {
            // The hour has room again once all but `max - 1` of these are older than it.
            let oldest_that_counts = self.0[self.0.len() - max];
            return Reservation::Held {
                frees_at: leaves_the_hour(oldest_that_counts),
            };
        }
        self.0.push_back(now);
        while self.0.len() > max {
            self.0.pop_front();
        }
        Reservation::Granted
    }

    /// As `status.recentRevocations` records it.
    pub fn recorded(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// The windows of every config this replica revoked with, seeded from the configs' status
/// the first time each is used.
pub struct RevocationWindows {
    kube: kube::Client,
    configs: Store<ProviderConfig>,
    cluster_configs: Store<ClusterProviderConfig>,
    /// One lock, held across the status write, so each config's record is written in the
    /// order its slots were taken; only revocations under a limit take it.
    windows: tokio::sync::Mutex<HashMap<ConfigKey, Window>>,
}

impl RevocationWindows {
    pub fn new(
        kube: kube::Client,
        configs: Store<ProviderConfig>,
        cluster_configs: Store<ClusterProviderConfig>,
    ) -> Self {
        Self {
            kube,
            configs,
            cluster_configs,
            windows: tokio::sync::Mutex::default(),
        }
    }

    /// Takes a slot of config `r` (as seen from `ra_namespace`) for a revocation now, and
    /// records it in the config's status before the revocation may be sent.
    pub async fn reserve(
        &self,
        ra_namespace: &str,
        r: &ProviderConfigRef,
        limit: RevocationLimit,
    ) -> Result<Reservation, kube::Error> {
        let mut windows = self.windows.lock().await;
        let window = windows
            .entry(ConfigKey::of(ra_namespace, r))
            .or_insert_with(|| Window::seed(&self.recorded(ra_namespace, r)));
        let before = window.clone();
        let reservation = window.reserve(Timestamp::now(), limit);
        if reservation == Reservation::Granted
            && let Err(e) = self.write(ra_namespace, r, window.recorded()).await
        {
            // Not recorded, so not sent: the slot is free again.
            *window = before;
            return Err(e);
        }
        Ok(reservation)
    }

    fn recorded(&self, ra_namespace: &str, r: &ProviderConfigRef) -> Vec<String> {
        let status = match r.kind {
            ConfigKind::ProviderConfig => self
                .configs
                .get(&ObjectRef::new(&r.name).within(ra_namespace))
                .and_then(|c| c.status.clone()),
            ConfigKind::ClusterProviderConfig => self
                .cluster_configs
                .get(&ObjectRef::new(&r.name))
                .and_then(|c| c.status.clone()),
        };
        status.map(|s| s.recent_revocations).unwrap_or_default()
    }

    async fn write(
        &self,
        ra_namespace: &str,
        r: &ProviderConfigRef,
        recorded: Vec<String>,
    ) -> Result<(), kube::Error> {
        let patch = Patch::Merge(json!({"status": {"recentRevocations": recorded}}));
        let params = PatchParams::default();
        match r.kind {
            ConfigKind::ProviderConfig => {
                Api::<ProviderConfig>::namespaced(self.kube.clone(), ra_namespace)
                    .patch_status(&r.name, &params, &patch)
                    .await?;
            }
            ConfigKind::ClusterProviderConfig => {
                Api::<ClusterProviderConfig>::all(self.kube.clone())
                    .patch_status(&r.name, &params, &patch)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn limit(max: u32) -> RevocationLimit {
        RevocationLimit {
            max_per_hour: max,
            confirmed_until: None,
        }
    }

    #[test]
    fn the_hour_slides_and_the_wait_ends_when_the_oldest_that_counts_leaves_it() {
        let mut w = Window::default();
        assert_eq!(
            w.reserve(t("2026-05-01T09:00:00Z"), limit(2)),
            Reservation::Granted
        );
        assert_eq!(
            w.reserve(t("2026-05-01T09:10:00Z"), limit(2)),
            Reservation::Granted
        );
        assert_eq!(
            w.reserve(t("2026-05-01T09:20:00Z"), limit(2)),
            Reservation::Held {
                frees_at: t("2026-05-01T10:00:00Z")
            }
        );
        assert_eq!(
            w.recorded(),
            ["2026-05-01T09:00:00Z", "2026-05-01T09:10:00Z"],
            "a held revocation takes no slot"
        );
        assert_eq!(
            w.reserve(t("2026-05-01T10:00:00Z"), limit(2)),
            Reservation::Granted
        );
        assert_eq!(
            w.reserve(t("2026-05-01T10:05:00Z"), limit(2)),
            Reservation::Held {
                frees_at: t("2026-05-01T10:10:00Z")
            }
        );
    }

    #[test]
    fn a_lowered_limit_waits_for_enough_of_the_hour_to_pass() {
        let mut w = Window::seed(&[
            "2026-05-01T09:03:00Z".into(),
            "2026-05-01T09:01:00Z".into(),
            "2026-05-01T09:02:00Z".into(),
            "not a time".into(),
        ]);
        assert_eq!(
            w.reserve(t("2026-05-01T09:30:00Z"), limit(2)),
            Reservation::Held {
                frees_at: t("2026-05-01T10:02:00Z")
            },
            "two of three must leave the hour before a third fits a limit of two"
        );
    }

    #[test]
    fn a_confirmation_lets_revocations_through_until_it_ends_and_they_still_count() {
        let mut w = Window::default();
        let confirmed = RevocationLimit {
            max_per_hour: 1,
            confirmed_until: Some(t("2026-05-01T09:30:00Z")),
        };
        for minute in ["09:00", "09:10", "09:20"] {
            let now = t(&format!("2026-05-01T{minute}:00Z"));
            assert_eq!(w.reserve(now, confirmed), Reservation::Granted, "{minute}");
        }
        assert_eq!(
            w.reserve(t("2026-05-01T09:30:00Z"), confirmed),
            Reservation::Held {
                frees_at: t("2026-05-01T10:20:00Z")
            },
            "the confirmation has ended; the newest revocation still fills the hour"
        );
        assert_eq!(
            w.recorded(),
            ["2026-05-01T09:20:00Z"],
            "only the newest matter"
        );
    }
}
