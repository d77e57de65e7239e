//! The `rolesync` subcommands, wired from their parts.

pub mod run;
pub mod sandbox;
