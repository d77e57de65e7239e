#!/usr/bin/env bash
# Usage: scripts/helm.sh ARGS...
#
# Runs the real helm CLI of the version pinned in tests/kube-apiserver/go.mod with ARGS. It is
# built once per machine into ${XDG_CACHE_HOME:-~/.cache}/rolesync and then replaces this
# script's process. Exit status 3: no Go toolchain; 1: the build failed; otherwise helm's own.
set -euo pipefail
prog=scripts/helm.sh
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/kube-apiserver/go-build.sh"

# What Helm's release build stamps in; a plain go build reports only the minor version.
helm_version_ldflags() {
	echo "-X helm.sh/helm/v4/internal/version.version=$1"
}
go_binary helm helm.sh/helm/v4/cmd/helm helm.sh/helm/v4 helm_version_ldflags
# `--build`: only build it (when the cache lacks it) and print the binary's path.
if [ "${1:-}" = --build ]; then
	echo "$bin"
	exit 0
fi

exec "$bin" "$@"
