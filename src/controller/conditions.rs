//! Condition merging that keeps `lastTransitionTime` stable: it moves only when a
//! condition's status changes, so re-asserting the same state writes nothing.

use crate::api::{Condition, ConditionStatus};

pub const READY: &str = "Ready";
pub const SYNCED: &str = "Synced";
/// True while the remote assignment differs from the spec by someone else's doing and
/// rolesync has not repaired it; the message says what differs.
pub const DRIFTED: &str = "Drifted";

/// A condition as the reconciler wants it, before timestamps are settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub type_: &'static str,
    pub status: ConditionStatus,
    pub reason: &'static str,
    pub message: String,
}

impl Wanted {
    pub fn new(
        type_: &'static str,
        status: ConditionStatus,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Returns `current` with `wanted` merged in. Conditions of other types are kept in place.
/// `now` (RFC 3339) is used only for conditions whose status changes or that are new.
pub fn merge(
    current: &[Condition],
    wanted: &[Wanted],
    generation: Option<i64>,
    now: &str,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = current.to_vec();
    for w in wanted {
        let transition_time = match current.iter().find(|c| c.type_ == w.type_) {
            Some(old) if old.status == w.status => old.last_transition_time.clone(),
            _ => now.to_owned(),
        };
        let merged = Condition {
            type_: w.type_.to_owned(),
            status: w.status,
            reason: w.reason.to_owned(),
            message: w.message.clone(),
            last_transition_time: transition_time,
            observed_generation: generation,
        };
        match out.iter_mut().find(|c| c.type_ == w.type_) {
            Some(slot) => *slot = merged,
            None => out.push(merged),
        }
    }
    out
}

/// The condition of `type_`, if present.
/// The reason `kubectl get` shows: why the resource is not Ready. Synced's reason when
/// Synced is False (the cause: `Unauthorized`, `NotFound`...), else Ready's.
pub fn shown_reason(conditions: &[Condition]) -> Option<String> {
    find(conditions, SYNCED)
        .filter(|c| c.status == ConditionStatus::False)
        .or_else(|| find(conditions, READY))
        .map(|c| c.reason.clone())
}

pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: ConditionStatus, reason: &'static str) -> Wanted {
        Wanted::new(READY, status, reason, "")
    }

    #[test]
    fn new_condition_gets_now() {
        let out = merge(
            &[],
            &[ready(ConditionStatus::True, "Available")],
            Some(1),
            "T1",
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].last_transition_time, "T1");
        assert_eq!(out[0].observed_generation, Some(1));
    }

    #[test]
    fn same_status_keeps_transition_time_even_if_reason_changes() {
        let first = merge(
            &[],
            &[ready(ConditionStatus::False, "Creating")],
            Some(1),
            "T1",
        );
        let second = merge(
            &first,
            &[ready(ConditionStatus::False, "Unavailable")],
            Some(1),
            "T2",
        );
        assert_eq!(second[0].last_transition_time, "T1");
        assert_eq!(second[0].reason, "Unavailable");
    }

    #[test]
    fn status_change_moves_transition_time() {
        let first = merge(
            &[],
            &[ready(ConditionStatus::False, "Creating")],
            Some(1),
            "T1",
        );
        let second = merge(
            &first,
            &[ready(ConditionStatus::True, "Available")],
            Some(1),
            "T2",
        );
        assert_eq!(second[0].last_transition_time, "T2");
    }

    #[test]
    fn reasserting_identical_state_is_identical() {
        let wanted = [
            ready(ConditionStatus::True, "Available"),
            Wanted::new(SYNCED, ConditionStatus::True, "ReconcileSuccess", ""),
        ];
        let first = merge(&[], &wanted, Some(3), "T1");
        let second = merge(&first, &wanted, Some(3), "T9");
        assert_eq!(first, second, "no change means no status write");
    }

    #[test]
    fn other_conditions_are_kept_in_order() {
        let first = merge(
            &[],
            &[
                Wanted::new("Custom", ConditionStatus::True, "X", ""),
                ready(ConditionStatus::True, "Available"),
            ],
            None,
            "T1",
        );
        let second = merge(
            &first,
            &[ready(ConditionStatus::False, "Deleting")],
            None,
            "T2",
        );
        assert_eq!(second[0].type_, "Custom");
        assert_eq!(second[1].type_, READY);
        assert_eq!(second[1].status, ConditionStatus::False);
    }

    #[test]
    fn the_shown_reason_is_the_cause_not_the_symptom() {
        let synced = |status, reason| Wanted::new(SYNCED, status, reason, "");
        let shown = |wanted: &[Wanted]| shown_reason(&merge(&[], wanted, None, "T"));
        assert_eq!(shown(&[]), None);
        assert_eq!(
            shown(&[
                ready(ConditionStatus::False, "Creating"),
                synced(ConditionStatus::False, "NotFound")
            ]),
            Some("NotFound".into()),
            "a failing grant shows why it fails, not that it is still being created"
        );
        assert_eq!(
            shown(&[
                ready(ConditionStatus::True, "Available"),
                synced(ConditionStatus::False, "ProviderUnavailable")
            ]),
            Some("ProviderUnavailable".into()),
            "a failure after Ready shows too"
        );
        assert_eq!(
            shown(&[
                ready(ConditionStatus::False, "Conflict"),
                synced(ConditionStatus::False, "Conflict")
            ]),
            Some("Conflict".into())
        );
        assert_eq!(
            shown(&[
                ready(ConditionStatus::True, "Available"),
                synced(ConditionStatus::True, "ReconcileSuccess")
            ]),
            Some("Available".into())
        );
    }
}
