//! The `rolesync` binary allocates with jemalloc, configured as `src/main.rs` says: the
//! operator's resident memory at scale depends on it (README "Performance").
#![cfg(feature = "jemalloc")]

use std::process::Command;

#[test]
fn the_binary_runs_on_jemalloc_with_one_arena_immediate_purging_and_small_thread_caches() {
    // jemalloc prints its options at exit when asked through its (prefixed) environment.
    let out = Command::new(env!("CARGO_BIN_EXE_rolesync"))
        .arg("crd")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .expect("rolesync runs");
    assert!(out.status.success());
    let stats = String::from_utf8_lossy(&out.stderr);
    for option in [
        "opt.narenas: 1",
        "opt.dirty_decay_ms: 0",
        "opt.muzzy_decay_ms: 0",
        "opt.tcache_max: 4096",
        "opt.tcache_nslots_small_max: 32",
    ] {
        assert!(stats.contains(option), "{option} missing from:\n{stats}");
    }
}
