#!/usr/bin/env bash
# Usage: scripts/kube-apiserver.sh DIR [--port N] [-- kube-apiserver flags...]
#
# Runs a real kube-apiserver of the release pinned in tests/kube-apiserver/go.mod, with an
# embedded etcd whose data is in DIR, on 127.0.0.1 only (port N, default a free one). Writes
# DIR/kubeconfig (admin, group system:masters), prints one line on stdout,
#   kube-apiserver ready url=https://127.0.0.1:PORT kubeconfig=DIR/kubeconfig
# once clients may create things, and serves until SIGINT or SIGTERM. The binary is built once
# per machine into ${XDG_CACHE_HOME:-~/.cache}/rolesync and then replaces this script's process,
# so signals reach it and nothing is left behind. Exit status 3: no Go toolchain; 1: the build
# failed. tests/kube-apiserver/README.md says what this server does not do.
#
# Usage: scripts/kube-apiserver.sh --build
#
# Only builds it (when the cache lacks it) and prints the binary's path.
set -euo pipefail
prog=scripts/kube-apiserver.sh
if [ $# -lt 1 ]; then
	echo "usage: $prog DIR [--port N] [-- kube-apiserver flags...] | --build" >&2
	exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/kube-apiserver/go-build.sh"

# The version Kubernetes' release build stamps in (what /version and kubectl version report,
# and what Helm checks a chart's kubeVersion against); a plain go build says v0.0.0-master.
kube_version_ldflags() {
	local minor=${1#v1.}
	echo "-X k8s.io/component-base/version.gitVersion=$1" \
		"-X k8s.io/component-base/version.gitMajor=1" \
		"-X k8s.io/component-base/version.gitMinor=${minor%%.*}"
}
go_binary kube-apiserver . k8s.io/kubernetes kube_version_ldflags "$root"/tests/kube-apiserver/*.go
if [ "$1" = --build ]; then
	echo "$bin"
	exit 0
fi

dir=$1
shift
mkdir -p "$dir"
exec "$bin" --data-dir "$dir" "$@"
