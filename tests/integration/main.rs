//! rolesync's integration tests, one binary: the operator as its own process against the
//! in-memory Kubernetes API and the provider simulators, each provider's client against its
//! simulator, the CRDs, the install manifests, and the scale scenarios at a small size.

mod allocator;
mod bad_input;
mod chaos;
mod crash_windows;
mod crds;
mod e2e_drift;
mod e2e_gcore;
mod e2e_guardrails;
mod e2e_harness;
mod e2e_hyperstack;
mod e2e_inventory;
mod e2e_operations;
mod e2e_revocation_limit;
mod e2e_timebound;
mod e2e_zenml;
mod export;
mod fleet;
mod gcore_provider;
mod harness_provider;
mod harness_sim;
mod hyperstack_provider;
mod image_build;
mod install;
mod inventory;
mod plan;
mod real_kube;
mod response_fuzz;
mod sandbox;
mod scale_smoke;
mod support;
mod zenml_provider;
