//! The in-memory API server driven by the clients rolesync's users run: kube-rs and kubectl,
//! and compared with the real kube-apiserver.

mod conformance;
mod kube_api;
mod kube_events;
mod kubectl;
mod support;
