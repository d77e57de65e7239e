# Sourced by scripts/kube-apiserver.sh and scripts/helm.sh (which set $prog): builds a pinned
# Go program once per machine and caches it, since a build takes minutes on two cores.
# shellcheck shell=bash disable=SC2154 # $prog comes from the sourcing script.

# go_binary NAME PACKAGE VERSION_MODULE LDFLAGS_FN [SOURCE...]
# Sets $bin to PACKAGE built in the Go module of this directory, building it only when no binary
# was built yet from the same go.mod, go.sum, SOURCE files, Go version and build commands.
# LDFLAGS_FN VERSION prints the -X flags that stamp VERSION_MODULE's version into the binary, as
# that program's own release build does. Exits 3 without a Go toolchain (callers tell that apart:
# tests skip locally, CI fails) and 1 when the build fails.
go_binary() {
	local name=$1 pkg=$2 version_module=$3 ldflags_fn=$4 moddir
	shift 4
	moddir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	local go
	go=$(command -v go) || {
		echo "$prog: no Go toolchain: 'go' is not in PATH, and building $name needs Go 1.26 or newer" >&2
		exit 3
	}
	local cache=${XDG_CACHE_HOME:-$HOME/.cache}/rolesync key
	key=$({
		"$go" version
		echo "$pkg"
		declare -f go_binary "$ldflags_fn"
		cat "$moddir/go.mod" "$moddir/go.sum" "$@"
	} | sha256sum | cut -c1-16)
	bin=$cache/$name-$key
	[ -x "$bin" ] && return

	mkdir -p "$cache"
	# Two test processes may ask at once: one builds, the other waits and uses its binary.
	exec 9>"$cache/$name.lock"
	if ! flock -n 9; then
		echo "$prog: waiting for another process that is building $name" >&2
		flock 9
	fi
	if [ ! -x "$bin" ]; then
		echo "$prog: building $name from $moddir (once per machine and pin; minutes on two cores)" >&2
		local start=$SECONDS version tmp=$bin.tmp.$$ pid status=0
		version=$(cd "$moddir" && "$go" list -m -f '{{.Version}}' "$version_module") || {
			echo "$prog: building $name failed: go list -m $version_module in $moddir failed" >&2
			exit 1
		}
		# The build runs in its own process group so that a signal to this script (a test
		# runner's timeout, Ctrl-C) ends the compilers too instead of leaving them running.
		set -m
		(cd "$moddir" && exec "$go" build -trimpath -buildvcs=false \
			-ldflags "-s -w $("$ldflags_fn" "$version")" -o "$tmp" "$pkg") &
		pid=$!
		set +m
		trap 'kill -TERM -- -$pid 2>/dev/null; wait $pid; rm -f "$tmp"; exit 143' TERM
		trap 'kill -TERM -- -$pid 2>/dev/null; wait $pid; rm -f "$tmp"; exit 130' INT
		wait $pid || status=$?
		trap - TERM INT
		if [ $status -ne 0 ]; then
			rm -f "$tmp"
			echo "$prog: building $name failed (go build exit status $status; its errors are above)" >&2
			exit 1
		fi
		# Readers that take no lock see either no binary or a whole one.
		mv -f "$tmp" "$bin"
		# What a killed build left, and all but the three newest binaries: enough for worktrees
		# on other pins or sources to keep theirs.
		rm -f "$cache/$name"-*.tmp.*
		# shellcheck disable=SC2012 # the names are ours: no newlines in them.
		ls -1t "$cache/$name"-* | tail -n +4 | xargs -rd '\n' rm -f
		echo "$prog: built $name in $((SECONDS - start)) s" >&2
	fi
	exec 9>&-
}
