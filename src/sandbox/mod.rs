//! Test and demo infrastructure: an in-memory Kubernetes API and provider simulators.
//! Nothing here depends on the controller.

pub mod kube;
pub mod sim;
