//! The record of the spec rolesync is applying ([`APPLYING_ANNOTATION`]): written before
//! anything remote changes, so that what an earlier spec made can be found after a crash
//! lost the status write and the spec changed.

use kube::ResourceExt;

use crate::api::{APPLYING_ANNOTATION, FINALIZER, RoleAssignment, RoleAssignmentSpec};
use crate::providers::Target;

/// What the record says about the spec rolesync applied last.
pub enum Applying {
    /// Nothing (usable) recorded: the next remote change records the spec first.
    Unrecorded,
    /// The current spec, or one granting the same role to the same assignment.
    Current,
    /// A spec of another assignment, whose grant goes before the current one is applied;
    /// or of another role of the same one (a provider that changes roles in place),
    /// whose grant is the one to change.
    Earlier(Box<Target>),
}

/// Reads the record of an object from the operator's cache (see [`compact`]).
pub fn applying(ra: &RoleAssignment, current: &Target) -> Applying {
    let Some(raw) = ra.annotations().get(APPLYING_ANNOTATION) else {
        return if handled(ra) {
            Applying::Current
        } else {
            Applying::Unrecorded
        };
    };
    // providerConfigRef is immutable: the same config's client finds the earlier one.
    match serde_json::from_str::<RoleAssignmentSpec>(raw)
        .ok()
        .and_then(|spec| spec.provider.target().ok())
    {
        None => Applying::Unrecorded,
        Some(e) if e.natural_key == current.natural_key && e.role == current.role => {
            Applying::Current
        }
        Some(e) => Applying::Earlier(Box::new(e)),
    }
}

pub fn applying_value(spec: &RoleAssignmentSpec) -> Result<String, kube::Error> {
    serde_json::to_string(spec).map_err(kube::Error::SerdeError)
}

/// Whether rolesync has worked on the object: it has rolesync's finalizer or a status.
fn handled(ra: &RoleAssignment) -> bool {
    ra.status.is_some() || ra.finalizers().iter().any(|f| f == FINALIZER)
}

/// For the operator's cache, where nearly every object's record names its current spec:
/// on an object rolesync has worked on, that record is dropped (with an annotation map
/// left empty, which alone costs over half a kilobyte per object), and a missing record
/// gets an empty one instead. A new object, without a record as a rule, keeps what it
/// has. Only an earlier spec's record, which a reconcile must look up, is kept whole.
/// Applied once, to each object as the API server sent it.
pub fn compact(ra: &mut RoleAssignment) {
    let handled = handled(ra);
    let annotations = ra.metadata.annotations.get_or_insert_default();
    match annotations.get(APPLYING_ANNOTATION) {
        None if !handled => {}
        None => {
            annotations.insert(APPLYING_ANNOTATION.to_owned(), String::new());
        }
        // Kept where missing would read as "nothing recorded" (see `applying`).
        Some(_) if !handled => {}
        Some(_) => {
            let current = ra.spec.provider.target().ok();
            if current.is_some_and(|c| matches!(applying(ra, &c), Applying::Current)) {
                ra.annotations_mut().remove(APPLYING_ANNOTATION);
            }
        }
    }
    if ra
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.is_empty())
    {
        ra.metadata.annotations = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ra(block: serde_json::Value, applying: Option<String>) -> RoleAssignment {
        let mut spec = json!({"providerConfigRef": {"name": "p"}});
        if let (Some(s), Some(b)) = (spec.as_object_mut(), block.as_object()) {
            s.extend(b.clone());
        }
        let mut ra: RoleAssignment = serde_json::from_value(json!({
            "apiVersion": "rolesync.dev/v1alpha1",
            "kind": "RoleAssignment",
            "metadata": {"name": "a", "namespace": "n"},
            "spec": spec,
        }))
        .unwrap();
        if let Some(a) = applying {
            ra.annotations_mut().insert(APPLYING_ANNOTATION.into(), a);
        }
        ra
    }

    fn harness(role: &str) -> serde_json::Value {
        json!({"harness": {"role": role, "resourceGroup": "_all_account_level_resources",
            "principal": {"type": "USER", "identifier": "alice"}}})
    }

    fn gcore(role: &str) -> serde_json::Value {
        json!({"gcore": {"userId": 7, "role": role}})
    }

    fn recorded(block: serde_json::Value) -> Option<String> {
        Some(applying_value(&ra(block, None).spec).unwrap())
    }

    /// What a reconcile reads from the cache for an object with this spec and record.
    fn applied(block: serde_json::Value, record: Option<String>) -> Applying {
        let mut ra = ra(block, record);
        compact(&mut ra);
        applying(&ra, &ra.spec.provider.target().unwrap())
    }

    #[test]
    fn the_record_tells_an_earlier_assignment_from_the_current_one() {
        assert!(matches!(
            applied(harness("_project_viewer"), None),
            Applying::Unrecorded
        ));
        assert!(matches!(
            applied(harness("_project_viewer"), Some("not a spec".into())),
            Applying::Unrecorded
        ));
        assert!(matches!(
            applied(
                harness("_project_viewer"),
                recorded(harness("_project_viewer"))
            ),
            Applying::Current
        ));
        // Gcore changes the role in place: the assignment stays the same one, and the
        // earlier role names which it is.
        match applied(gcore("User"), recorded(gcore("Observer"))) {
            Applying::Earlier(earlier) => assert_eq!(earlier.role, "Observer"),
            _ => panic!("the Observer spec is an earlier one"),
        }
        assert!(matches!(
            applied(gcore("User"), recorded(gcore("User"))),
            Applying::Current
        ));
        // Harness assignments are per role: the viewer one is found only through its spec.
        match applied(
            harness("_project_admin"),
            recorded(harness("_project_viewer")),
        ) {
            Applying::Earlier(earlier) => assert_eq!(earlier.role, "_project_viewer"),
            _ => panic!("the viewer spec is an earlier one"),
        }
    }

    #[test]
    fn the_cache_drops_a_record_of_the_current_spec_and_keeps_the_rest() {
        let mut current = ra(
            harness("_project_viewer"),
            recorded(harness("_project_viewer")),
        );
        current.status = Some(Default::default());
        compact(&mut current);
        assert_eq!(current.metadata.annotations, None, "no empty map left");

        let mut other = ra(gcore("User"), recorded(gcore("User")));
        other.finalizers_mut().push(FINALIZER.into());
        other
            .annotations_mut()
            .insert("rolesync.dev/poll-interval".into(), "5m".into());
        compact(&mut other);
        assert_eq!(
            other.annotations().keys().collect::<Vec<_>>(),
            ["rolesync.dev/poll-interval"]
        );

        let earlier = recorded(harness("_project_viewer"));
        let mut changed = ra(harness("_project_admin"), earlier.clone());
        changed.status = Some(Default::default());
        compact(&mut changed);
        assert_eq!(
            changed.annotations().get(APPLYING_ANNOTATION),
            earlier.as_ref()
        );

        // A new object has no record and needs no map for saying so.
        let mut new = ra(gcore("User"), None);
        compact(&mut new);
        assert_eq!(new.metadata.annotations, None);
        assert!(matches!(
            applying(&new, &new.spec.provider.target().unwrap()),
            Applying::Unrecorded
        ));
        // One rolesync worked on without a record (it only observes, or predates the
        // record) says so, where a missing record means "the current spec".
        let mut handled = ra(gcore("User"), None);
        handled.status = Some(Default::default());
        compact(&mut handled);
        assert_eq!(handled.annotations()[APPLYING_ANNOTATION], "");
        assert!(matches!(
            applying(&handled, &handled.spec.provider.target().unwrap()),
            Applying::Unrecorded
        ));
    }
}
