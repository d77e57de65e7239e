//! The in-memory API server driven by the clients rolesync's users run: kube-rs and kubectl.

mod kube_api;
mod kube_events;
mod kubectl;
