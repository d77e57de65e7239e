//! The `rolesync` subcommands, wired from their parts.

pub mod dir_lock;
pub mod run;
pub mod sandbox;
