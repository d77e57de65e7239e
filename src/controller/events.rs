//! Publishes events.k8s.io/v1 Events about RoleAssignments and provider configs.
//!
//! kube-runtime's `Recorder` keeps every Event it published for minutes to count repeats
//! into a series, and scans that cache on every publish: 10,000 assignments created at
//! once cost megabytes and quadratic time. rolesync publishes only on transitions, so an
//! Event rarely repeats; each one is created on its own and nothing is kept.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as EventsV1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;

/// Whether an Event reports normal progress or something a user should look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// Why rolesync publishes an Event about a RoleAssignment: what it changed remotely, or
/// why it stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Created,
    Updated,
    Replaced,
    Adopted,
    Deleted,
    /// Deleting would have removed something rolesync did not grant: left in place.
    LeftInPlace,
    /// An older RoleAssignment manages the same remote assignment.
    Conflict,
    /// A grant was revoked because `spec.notBefore` lies ahead.
    Scheduled,
    /// `spec.expiresAt` passed: the grant was revoked (or is left, as the policies say).
    Expired,
    /// Someone other than rolesync changed or deleted the remote assignment.
    DriftDetected,
    /// A failure retrying cannot fix (or only time or a person can), by its condition
    /// reason.
    Failed(&'static str),
    /// About a provider config: assignments at the provider that no RoleAssignment
    /// accounts for were seen for the first time.
    Unmanaged,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "Created",
            Self::Updated => "Updated",
            Self::Replaced => "Replaced",
            Self::Adopted => "Adopted",
            Self::Deleted => "Deleted",
            Self::LeftInPlace => "LeftInPlace",
            Self::Conflict => "Conflict",
            Self::Scheduled => "Scheduled",
            Self::Expired => "Expired",
            Self::DriftDetected => "DriftDetected",
            Self::Failed(reason) => reason,
            Self::Unmanaged => "Unmanaged",
        }
    }

    pub fn type_(self) -> EventType {
        match self {
            Self::LeftInPlace
            | Self::Conflict
            | Self::DriftDetected
            | Self::Failed(_)
            | Self::Unmanaged => EventType::Warning,
            _ => EventType::Normal,
        }
    }
}

/// One Event to publish: why, and a sentence saying what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub reason: Reason,
    pub note: String,
}

impl Event {
    pub fn new(reason: Reason, note: impl Into<String>) -> Self {
        Self {
            reason,
            note: note.into(),
        }
    }
}

/// Creates Events in the namespace of the object they are about.
#[derive(Clone)]
pub struct Publisher {
    client: kube::Client,
    controller: String,
    instance: String,
}

impl Publisher {
    pub fn new(client: kube::Client, controller: &str, instance: &str) -> Self {
        Self {
            client,
            controller: controller.to_owned(),
            instance: instance.to_owned(),
        }
    }

    /// An Event about a namespaced object, in its namespace.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        what: Event,
    ) -> Result<(), kube::Error> {
        let ns = regarding.namespace.as_deref().unwrap_or("default");
        self.publish_in(ns, regarding, what).await
    }

    /// An Event in namespace `ns`: where one about a cluster-scoped object goes.
    pub async fn publish_in(
        &self,
        ns: &str,
        regarding: &ObjectReference,
        what: Event,
    ) -> Result<(), kube::Error> {
        let mut event = event(
            regarding,
            what,
            (&self.controller, &self.instance),
            jiff::Timestamp::now(),
        );
        event.metadata.namespace = Some(ns.to_owned());
        Api::<EventsV1>::namespaced(self.client.clone(), ns)
            .create(&PostParams::default(), &event)
            .await
            .map(drop)
    }
}

/// The Event as kube-runtime's `Recorder` would first create it: named after the object
/// and the time, the reason doubling as the action.
fn event(
    regarding: &ObjectReference,
    what: Event,
    (controller, instance): (&str, &str),
    now: jiff::Timestamp,
) -> EventsV1 {
    let reason = what.reason.as_str();
    EventsV1 {
        metadata: ObjectMeta {
            namespace: regarding.namespace.clone(),
            name: Some(format!(
                "{}.{:x}",
                regarding.name.as_deref().unwrap_or(controller),
                now.as_nanosecond()
            )),
            ..Default::default()
        },
        action: Some(reason.to_owned()),
        reason: Some(reason.to_owned()),
        note: Some(what.note),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding.clone()),
        reporting_controller: Some(controller.to_owned()),
        reporting_instance: Some(instance.to_owned()),
        type_: Some(what.reason.type_().as_str().to_owned()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_the_object_reporter_and_reason() {
        let regarding = ObjectReference {
            api_version: Some("rolesync.dev/v1alpha1".into()),
            kind: Some("RoleAssignment".into()),
            namespace: Some("team-a".into()),
            name: Some("alice".into()),
            uid: Some("u-1".into()),
            ..Default::default()
        };
        let now = jiff::Timestamp::from_nanosecond(0x10).unwrap();
        let e = event(
            &regarding,
            Event::new(Reason::Conflict, "already managed"),
            ("rolesync", "pod-1"),
            now,
        );
        assert_eq!(e.metadata.name.as_deref(), Some("alice.10"));
        assert_eq!(e.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(e.regarding.as_ref(), Some(&regarding));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.reason.as_deref(), Some("Conflict"));
        assert_eq!(e.action.as_deref(), Some("Conflict"));
        assert_eq!(e.note.as_deref(), Some("already managed"));
        assert_eq!(e.reporting_controller.as_deref(), Some("rolesync"));
        assert_eq!(e.reporting_instance.as_deref(), Some("pod-1"));
        assert_eq!(e.event_time, Some(MicroTime(now)));
        assert!(e.series.is_none());
    }
}
