//! An in-memory Kubernetes API server served over plain HTTP on loopback.
//! It has no dependency on the rest of rolesync so that it could become a crate of its own.

pub mod apply;
pub mod discovery;
pub mod openapi;
pub mod resource;
pub mod schema;
pub mod table;
