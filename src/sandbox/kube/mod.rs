//! An in-memory Kubernetes API server served over plain HTTP on loopback.
//! It has no dependency on the rest of rolesync so that it could become a crate of its own.

pub mod apply;
mod builtin;
mod cluster;
mod crd;
pub mod discovery;
mod meta;
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
