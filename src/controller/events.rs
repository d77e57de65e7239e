//! Publishes events.k8s.io/v1 Events about RoleAssignments.
//!
//! kube-runtime's `Recorder` keeps every Event it published for minutes to count repeats
//! into a series, and scans that cache on every publish: 10,000 assignments created at
//! once cost megabytes and quadratic time. rolesync publishes only on transitions, so an
//! Event rarely repeats; each one is created on its own and nothing is kept.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
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

    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        kind: EventType,
        reason: &str,
        note: String,
    ) -> Result<(), kube::Error> {
        let event = event(
            regarding,
            kind,
            reason,
            note,
            (&self.controller, &self.instance),
            jiff::Timestamp::now(),
        );
        let ns = regarding.namespace.as_deref().unwrap_or("default");
        Api::<Event>::namespaced(self.client.clone(), ns)
            .create(&PostParams::default(), &event)
            .await
            .map(drop)
    }
}

/// The Event as kube-runtime's `Recorder` would first create it: named after the object
/// and the time, the reason doubling as the action.
fn event(
    regarding: &ObjectReference,
    kind: EventType,
    reason: &str,
    note: String,
    (controller, instance): (&str, &str),
    now: jiff::Timestamp,
) -> Event {
    Event {
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
        note: Some(note),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding.clone()),
        reporting_controller: Some(controller.to_owned()),
        reporting_instance: Some(instance.to_owned()),
        type_: Some(kind.as_str().to_owned()),
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
            EventType::Warning,
            "Conflict",
            "already managed".into(),
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
