//! When a RoleAssignment's grant may exist: from `spec.notBefore` until `spec.expiresAt`.
//! A reconcile is requeued for the next of these instants, so a grant is made and revoked
//! on time rather than at the next resync; a restarted operator (or a new leader) computes
//! the same instants from the spec on its first pass.

use std::time::Duration;

use jiff::Timestamp;

use crate::api::RoleAssignmentSpec;
use crate::providers::SpecError;

/// `spec.notBefore` and `spec.expiresAt`, parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    pub not_before: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// Where `now` lies in a [`Window`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before `notBefore` (given): nothing is granted yet.
    Before(Timestamp),
    Within,
    /// At or after `expiresAt` (given): the grant is revoked.
    After(Timestamp),
}

fn instant(field: &'static str, value: Option<&str>) -> Result<Option<Timestamp>, SpecError> {
    value
        .map(|v| {
            v.parse::<Timestamp>().map_err(|e| SpecError::Invalid {
                field,
                message: format!("{v:?} is not an RFC 3339 time: {e}"),
            })
        })
        .transpose()
}

impl Window {
    /// The window a spec asks for. Refuses what the CRD's rules refuse too, as the API
    /// server may be older than the CRD.
    pub fn of(spec: &RoleAssignmentSpec) -> Result<Self, SpecError> {
        let window = Self {
            not_before: instant("spec.notBefore", spec.not_before.as_deref())?,
            expires_at: instant("spec.expiresAt", spec.expires_at.as_deref())?,
        };
        if let (Some(from), Some(until)) = (window.not_before, window.expires_at)
            && until <= from
        {
            return Err(SpecError::Invalid {
                field: "spec.expiresAt",
                message: "expiresAt must be after notBefore".to_owned(),
            });
        }
        Ok(window)
    }

    pub fn phase(&self, now: Timestamp) -> Phase {
        match (self.not_before, self.expires_at) {
            (Some(from), _) if now < from => Phase::Before(from),
            (_, Some(until)) if now >= until => Phase::After(until),
            _ => Phase::Within,
        }
    }

    /// The next instant after `now` at which the phase changes.
    pub fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        [self.not_before, self.expires_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// How long from `now` until `at` (zero once it is past). A timer never fires early, so a
/// reconcile requeued for this long finds the instant reached.
pub fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(not_before: Option<&str>, expires_at: Option<&str>) -> RoleAssignmentSpec {
        let mut spec: RoleAssignmentSpec = serde_json::from_value(json!({
            "providerConfigRef": {"name": "p"}, "gcore": {"userId": 7, "role": "Observer"}
        }))
        .unwrap();
        spec.not_before = not_before.map(str::to_owned);
        spec.expires_at = expires_at.map(str::to_owned);
        spec
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_phase_follows_both_instants_and_the_end_is_exclusive() {
        // 11:00+01:00 is 10:00Z: offsets are read, not dropped.
        let w = Window::of(&spec(
            Some("2026-05-01T09:00:00Z"),
            Some("2026-05-01T11:00:00+01:00"),
        ))
        .unwrap();
        assert_eq!(
            w.phase(t("2026-05-01T08:59:59.999Z")),
            Phase::Before(t("2026-05-01T09:00:00Z"))
        );
        assert_eq!(
            w.phase(t("2026-05-01T09:00:00Z")),
            Phase::Within,
            "notBefore is the first instant with the grant"
        );
        assert_eq!(w.phase(t("2026-05-01T09:59:59.999Z")), Phase::Within);
        assert_eq!(
            w.phase(t("2026-05-01T10:00:00Z")),
            Phase::After(t("2026-05-01T10:00:00Z")),
            "expiresAt is the first instant without it"
        );
        let open = Window::of(&spec(None, Some("2026-05-01T10:00:00Z"))).unwrap();
        assert_eq!(open.phase(t("2020-01-01T00:00:00Z")), Phase::Within);
        assert_eq!(
            Window::default().phase(t("2026-05-01T10:00:00Z")),
            Phase::Within
        );
    }

    #[test]
    fn the_next_change_is_the_nearest_instant_still_ahead() {
        let w = Window::of(&spec(
            Some("2026-05-01T09:00:00Z"),
            Some("2026-05-01T10:00:00Z"),
        ))
        .unwrap();
        assert_eq!(
            w.next_change(t("2026-05-01T08:00:00Z")),
            Some(t("2026-05-01T09:00:00Z"))
        );
        assert_eq!(
            w.next_change(t("2026-05-01T09:00:00Z")),
            Some(t("2026-05-01T10:00:00Z"))
        );
        assert_eq!(w.next_change(t("2026-05-01T10:00:00Z")), None);
        assert_eq!(
            until(t("2026-05-01T09:00:00Z"), t("2026-05-01T09:00:01.5Z")),
            Duration::from_millis(1500)
        );
        assert_eq!(
            until(t("2026-05-01T09:00:02Z"), t("2026-05-01T09:00:01Z")),
            Duration::ZERO
        );
    }

    #[test]
    fn what_the_crd_refuses_is_refused_here_too() {
        assert!(matches!(
            Window::of(&spec(Some("tomorrow"), None)),
            Err(SpecError::Invalid {
                field: "spec.notBefore",
                ..
            })
        ));
        assert!(matches!(
            Window::of(&spec(
                Some("2026-05-01T10:00:00Z"),
                Some("2026-05-01T11:00:00+01:00")
            )),
            Err(SpecError::Invalid {
                field: "spec.expiresAt",
                ..
            })
        ));
    }
}
