//! An in-memory Kubernetes API server served over plain HTTP on loopback: the cluster of
//! `rolesync sandbox` and of rolesync's fast tests. It knows nothing of rolesync.

pub mod apply;
mod builtin;
mod cluster;
mod crd;
pub mod discovery;
mod events;
mod meta;
mod metadata;
pub mod openapi;
mod persist;
mod protobuf;
mod registry;
pub mod resource;
mod router;
pub mod schema;
mod selector;
mod server;
mod status;
mod store;
pub mod table;
mod verbs;
mod watch;

pub use cluster::RequestRecord;
pub use server::{ApiServer, Faults, ServerConfig};
