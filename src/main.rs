use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

// glibc's malloc keeps most of what a burst of 10,000 objects freed (per-thread arenas,
// no size classes): the operator's resident memory ran to twice its heap. jemalloc holds
// it close to the heap.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read as it starts (before `main`): one arena for all threads (each
/// arena keeps its own free memory; per-thread caches still spare most allocations the
/// shared lock), and freed pages handed back at once rather than after ten seconds, so a
/// relist or a mass deletion does not leave its peak resident. The per-thread caches hold
/// sizes up to 4 KiB and at most 32 of each small size (defaults: 32 KiB and 200): ~1 MiB
/// less at 10,000 objects for no measurable CPU (turned off entirely, they cost a quarter
/// more). The benchmark measured both the operator and the sandbox no slower for these
/// (README "Performance").
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&std::ffi::c_char> = Some(unsafe {
    &*c"narenas:1,dirty_decay_ms:0,muzzy_decay_ms:0,tcache_max:4096,tcache_nslots_small_max:32"
        .as_ptr()
});

/// Keeps role assignments in Gcore, Harness, ZenML Pro and Hyperstack in step with
/// RoleAssignment resources.
#[derive(Debug, Parser)]
#[command(name = "rolesync", version, about, args_override_self = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the operator (in-cluster config or KUBECONFIG).
    Run(cmd::run::RunArgs),
    /// Print rolesync's CustomResourceDefinitions as YAML.
    Crd,
    /// Show what applying RoleAssignment manifests would change at the providers, writing
    /// nothing. Exit code 0: no change, 2: changes, 1: errors.
    Plan(cmd::plan::PlanArgs),
    /// Print RoleAssignments for the assignments a provider config's credentials can see
    /// and no RoleAssignment accounts for (progress on stderr; writes nothing).
    Export(cmd::export::ExportArgs),
    /// Everything on one machine: an in-memory Kubernetes API, provider simulators and the operator.
    #[cfg(feature = "sandbox")]
    Sandbox(cmd::sandbox::SandboxArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    // Startup: a missing crypto provider is a build error, not a runtime condition.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => {
            return cmd::plan::run(args).await.unwrap_or_else(|e| {
                eprintln!("rolesync plan: {e}");
                ExitCode::FAILURE
            });
        }
        Command::Run(args) => cmd::run::run(args).await.map_err(|e| e.to_string()),
        Command::Export(args) => cmd::export::run(args).await.map_err(|e| e.to_string()),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => cmd::sandbox::run(args).await.map_err(|e| e.to_string()),
        Command::Crd => rolesync::api::crds_yaml()
            .map(|yaml| print!("{yaml}"))
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rolesync: {e}");
            ExitCode::FAILURE
        }
    }
}
