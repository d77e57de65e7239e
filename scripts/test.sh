#!/usr/bin/env bash
# Runs every check rolesync's CI runs: formatting, lints and the whole test suite.
# Installs what the tests need on a fresh machine first.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# --- Dependency audit: cargo deny (deny.toml) ------------------------------------------
# Installed once per machine (a few minutes of compiling; the prebuilt wheel on PyPI is too
# old to read today's Cargo metadata, and cargo-audit costs as much to build while checking
# advisories only). Licences, bans and sources need nothing but Cargo.lock. The RustSec
# advisory database is fetched from GitHub: where that cannot be reached the advisory
# check says so and is skipped instead of failing every run.
if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "scripts/test.sh: installing cargo-deny (once per machine)"
    cargo install --locked --quiet cargo-deny
fi
cargo deny --log-level error check licenses bans sources
if timeout 120 cargo deny --log-level error fetch db >/dev/null 2>&1; then
    cargo deny --log-level error check advisories
else
    echo "scripts/test.sh: RustSec advisory database unreachable; advisories not checked"
fi
# ---------------------------------------------------------------------------------------

cargo nextest run --locked --no-fail-fast "$@"
