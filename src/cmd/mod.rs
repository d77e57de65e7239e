//! The `rolesync` subcommands, wired from their parts.

#[cfg(feature = "sandbox")]
mod dir_lock;
pub mod export;
pub mod plan;
pub mod run;
#[cfg(feature = "sandbox")]
pub mod sandbox;
