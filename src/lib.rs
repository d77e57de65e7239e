//! rolesync: keeps role assignments in external clouds and SaaS products in step with
//! `RoleAssignment` resources in a Kubernetes cluster.

pub mod api;
pub mod controller;
pub mod inventory;
pub mod metrics;
pub mod providers;
pub mod telemetry;
