//! The writes a reconcile makes to Kubernetes, behind one trait: the API server in the
//! operator, a recording fake in the reconcile's unit tests.

use futures::future::BoxFuture;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::applying::applying_value;
use super::events::{Event, Publisher};
use super::status_patch::status_patch;
use crate::api::{APPLYING_ANNOTATION, FINALIZER, RoleAssignment, RoleAssignmentStatus};

/// What a reconcile writes about the RoleAssignment it works on.
pub trait Writes: Send + Sync {
    /// Adds or removes rolesync's finalizer, as a compare-and-swap on the object's
    /// resourceVersion; `record` also records the spec being applied.
    fn set_finalizer<'a>(
        &'a self,
        ra: &'a RoleAssignment,
        present: bool,
        record: bool,
    ) -> BoxFuture<'a, Result<(), kube::Error>>;

    /// Records the spec about to be applied ([`APPLYING_ANNOTATION`]).
    fn record_applying<'a>(
        &'a self,
        ra: &'a RoleAssignment,
    ) -> BoxFuture<'a, Result<(), kube::Error>>;

    /// Replaces the status the object has with `status`.
    fn write_status<'a>(
        &'a self,
        ra: &'a RoleAssignment,
        status: &'a RoleAssignmentStatus,
    ) -> BoxFuture<'a, Result<(), kube::Error>>;

    fn publish<'a>(
        &'a self,
        ra: &'a RoleAssignment,
        event: Event,
    ) -> BoxFuture<'a, Result<(), kube::Error>>;
}

/// [`Writes`] to the API server.
pub struct ApiWrites {
    pub client: kube::Client,
    pub events: Publisher,
}

impl ApiWrites {
    fn api(&self, ra: &RoleAssignment) -> Api<RoleAssignment> {
        Api::namespaced(self.client.clone(), &ra.namespace().unwrap_or_default())
    }
}

impl Writes for ApiWrites {
    fn set_finalizer<'a>(
        &'a self,
        ra: &'a RoleAssignment,
        present: bool,
        record: bool,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        Box::pin(async move {
            let mut finalizers: Vec<String> = ra
                .finalizers()
                .iter()
                .filter(|f| *f != FINALIZER)
                .cloned()
                .collect();
            if present {
                finalizers.push(FINALIZER.to_owned());
            }
            // The resourceVersion makes this a compare-and-swap: a concurrent change gets a
            // 409 and a fresh reconcile instead of a lost finalizer.
            let mut patch = json!({
                "metadata": {"finalizers": finalizers, "resourceVersion": ra.resource_version()}
            });
            if record {
                patch["metadata"]["annotations"] =
                    json!({APPLYING_ANNOTATION: applying_value(&ra.spec)?});
            }
            self.api(ra)
                .patch(
                    &ra.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            Ok(())
        })
    }

    fn record_applying<'a>(
        &'a self,
        ra: &'a RoleAssignment,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        Box::pin(async move {
            let patch = json!({"metadata": {"annotations": {APPLYING_ANNOTATION: applying_value(&ra.spec)?}}});
            self.api(ra)
                .patch(
                    &ra.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
            Ok(())
        })
    }

    fn write_status<'a>(
        &'a self,
        ra: &'a RoleAssignment,
        status: &'a RoleAssignmentStatus,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        Box::pin(async move {
            let patch =
                status_patch(ra.status.as_ref(), status).map_err(kube::Error::SerdeError)?;
            self.api(ra)
                .patch_status(
                    &ra.name_any(),
                    &PatchParams::default(),
                    &Patch::<()>::Json(patch),
                )
                .await?;
            Ok(())
        })
    }

    fn publish<'a>(
        &'a self,
        ra: &'a RoleAssignment,
        event: Event,
    ) -> BoxFuture<'a, Result<(), kube::Error>> {
        Box::pin(async move { self.events.publish(&ra.object_ref(&()), event).await })
    }
}
