//! What ties rolesync's parts together outside the operator: a cluster made ready for
//! rolesync (namespace, CRDs, a Secret and ClusterProviderConfig per provider), every
//! provider simulator at once, and the benchmark's scenarios. `rolesync sandbox`, the
//! integration tests and `cargo bench` share it. It knows rolesync only by its resources'
//! JSON, as a user does, and never links the operator.

pub mod cluster;
pub mod real_kube;
pub mod scenarios;
pub mod simulators;

pub use cluster::{
    Error, SYSTEM_NAMESPACE, client_for, config_for, connect_provider, ensure_namespace,
    install_crds,
};
pub use real_kube::RealKube;
pub use simulators::{GCORE_EXTRA_USER_BASE, SimOptions, Simulators};
