#!/usr/bin/env bash
# Runs every check rolesync's CI runs: formatting, lints and the whole test suite.
# Installs what the tests need on a fresh machine first.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Install checks (charts/, deploy/, Argo CD): a venv in .venv with the real Helm engine
# (helm-python-sdk) and the Kubernetes schemas (kubernetes-validate), and Lua 5.1, the Lua
# Argo CD runs health checks in. Installed once; reinstalled when requirements change.
setup_install_checks() {
  if ! command -v lua5.1 >/dev/null; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
      echo "scripts/test.sh: lua5.1 is missing; install it (Debian: apt-get install lua5.1)" >&2
      exit 1
    fi
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua5.1; } >/dev/null ||
      { echo "scripts/test.sh: installing lua5.1 with apt-get failed" >&2; exit 1; }
  fi
  local wanted=tests/python/requirements.txt installed=.venv/rolesync-requirements.txt
  if [ ! -x .venv/bin/python ] || ! cmp -s "$wanted" "$installed"; then
    { python3 -m venv .venv &&
      .venv/bin/pip install -q --disable-pip-version-check -r "$wanted" &&
      cp "$wanted" "$installed"; } ||
      { echo "scripts/test.sh: setting up .venv from $wanted failed" >&2; exit 1; }
  fi
}
setup_install_checks
.venv/bin/python -m unittest discover --quiet --start-directory tests/python --top-level-directory tests/python
# --- end of install checks

# --- Real Kubernetes: kube-apiserver (with etcd) and helm built from the Go modules pinned in
# tests/kube-apiserver (once per machine, cached; about ten minutes on two cores the first
# time). The real-server tests need them; without Go they would fail, so say why here.
if ! command -v go >/dev/null 2>&1; then
    echo "scripts/test.sh: Go 1.26 or newer is needed to build the real kube-apiserver for the tests" >&2
    exit 1
fi
scripts/kube-apiserver.sh --build >/dev/null
scripts/helm.sh --build >/dev/null
unformatted=$(cd tests/kube-apiserver && gofmt -l .)
if [ -n "$unformatted" ]; then
    echo "scripts/test.sh: gofmt would change: $unformatted" >&2
    exit 1
fi
# -trimpath: the same build flags as the scripts', so vet reuses their build cache.
(cd tests/kube-apiserver && go vet -trimpath ./...)
# ---------------------------------------------------------------------------------------

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
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

if ! command -v cargo-nextest >/dev/null 2>&1; then
    echo "scripts/test.sh: installing cargo-nextest (once per machine)"
    cargo install --locked --quiet cargo-nextest
fi
# A check that cannot run here (a missing tool) fails instead of skipping.
export ROLESYNC_STRICT=1
cargo nextest run --workspace --locked --no-fail-fast "$@"
