#!/usr/bin/env bash
# shellcheck disable=SC2016 # checks hand their arguments to bash -c scripts in single quotes
# Usage: tests/kube-apiserver/smoke.sh
#
# Documents, by running them, the checks that scripts/kube-apiserver.sh gives a usable server
# and scripts/helm.sh a usable Helm: kubectl as admin and as a ServiceAccount with a requested
# token (RBAC allows and forbids), a CRD and a custom resource applied server-side, a deleted
# namespace emptied and removed, a restart on the same data, Helm template and install
# (a tiny chart, then charts/rolesync), and a clean stop on SIGTERM. Needs kubectl. Builds the
# binaries first if this machine has none (minutes). Ends with "smoke: N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
passed=0 failed=0 server=""

ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: runs COMMAND, its output in $work/last.
check() {
	local what=$1
	shift
	if "$@" >"$work/last" 2>&1; then ok "$what"; else fail "$what: $(tail -3 "$work/last")"; fi
}
finish() {
	[ -z "$server" ] || { kill -TERM "$server" 2>/dev/null; wait "$server" 2>/dev/null; }
	rm -rf "$work"
	echo "smoke: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
trap 'exit 1' INT TERM
trap finish EXIT

# start: runs scripts/kube-apiserver.sh on $work/kube and waits for its ready line.
start() {
	: >"$work/server.out"
	"$root/scripts/kube-apiserver.sh" "$work/kube" >"$work/server.out" 2>"$work/server.err" &
	server=$!
	local began=$SECONDS
	until grep -q '^kube-apiserver ready ' "$work/server.out"; do
		if ! kill -0 "$server" 2>/dev/null; then
			wait "$server"
			echo "scripts/kube-apiserver.sh exited with status $? before it was ready:" >&2
			tail -20 "$work/server.err" >&2
			server=""
			exit 1
		fi
		sleep 0.2
	done
	ok "server ready in $((SECONDS - began)) s: $(cat "$work/server.out")"
	url=$(sed -n 's/^kube-apiserver ready url=\([^ ]*\) .*/\1/p' "$work/server.out")
}

start
export KUBECONFIG=$work/kube/kubeconfig
check "the kubeconfig is DIR/kubeconfig" grep -q "kubeconfig=$KUBECONFIG\$" "$work/server.out"
check "admin lists the system namespaces" \
	bash -c 'kubectl get ns -o name | grep -qx namespace/default && kubectl get ns -o name | grep -qx namespace/kube-system'
pin=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$root/tests/kube-apiserver/go.mod")
check "the server reports the pinned release $pin" \
	bash -c 'kubectl get --raw /version | grep -q "\"gitVersion\": \"$1\""' _ "$pin"

# A ServiceAccount with a requested token: RBAC allows what its ClusterRole grants, nothing else.
check "create namespace, ServiceAccount, ClusterRole and binding" bash -c '
	kubectl create namespace smoke &&
	kubectl -n smoke create serviceaccount reader &&
	kubectl create clusterrole smoke-ns-reader --verb=get,list --resource=namespaces &&
	kubectl create clusterrolebinding smoke-ns-reader --clusterrole=smoke-ns-reader --serviceaccount=smoke:reader'
if token=$(kubectl -n smoke create token reader); then ok "kubectl create token"; else fail "kubectl create token"; fi
as_reader=(kubectl --kubeconfig=/dev/null --server="$url" --certificate-authority="$work/kube/pki/ca.crt" --token="$token")
check "the token may list namespaces (auth can-i: yes)" bash -c '[ "$("$@" auth can-i list namespaces)" = yes ]' _ "${as_reader[@]}"
check "the token may read a namespace" "${as_reader[@]}" get namespace smoke
check "the token may not create Secrets (auth can-i: no)" \
	bash -c '[ "$("$@" -n smoke auth can-i create secrets)" = no ]' _ "${as_reader[@]}"
if "${as_reader[@]}" -n smoke get secrets >"$work/secrets" 2>&1; then
	fail "the token could list Secrets"
else
	check "listing Secrets with the token is Forbidden" grep -q Forbidden "$work/secrets"
fi

# CRDs: served once Established, custom resources applied server-side.
cat >"$work/crd.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.rolesync.dev
spec:
  group: smoke.rolesync.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
YAML
check "apply a CRD server-side" kubectl apply --server-side -f "$work/crd.yaml"
check "the CRD becomes Established" kubectl wait --for=condition=Established crd/widgets.smoke.rolesync.dev --timeout=30s
widget() { printf 'apiVersion: smoke.rolesync.dev/v1\nkind: Widget\nmetadata: {name: %s, namespace: %s}\nspec: {size: 1}\n---\n' "$1" "$2"; }
widget w smoke >"$work/cr.yaml"
check "apply a custom resource server-side" kubectl apply --server-side -f "$work/cr.yaml"
check "read the custom resource back" kubectl -n smoke get widget w

# The namespace controller runs in-process: a deleted namespace is emptied, then removed.
kubectl create namespace doomed >/dev/null
for i in $(seq 1 50); do widget "w$i" doomed; done >"$work/doomed.yaml"
check "create 50 custom resources in namespace doomed" kubectl apply --server-side -f "$work/doomed.yaml"
began=$SECONDS
check "deleting namespace doomed removes it and its 50 objects" bash -c '
	kubectl delete namespace doomed --wait=false &&
	kubectl wait --for=delete namespace/doomed --timeout=60s'
echo "    (namespace finalized in $((SECONDS - began)) s)"
check "no Widget of namespace doomed remains" bash -c '[ -z "$(kubectl get widgets -A -o name --field-selector metadata.namespace=doomed)" ]'

# Helm: the real CLI against this server.
check "scripts/helm.sh version" "$root/scripts/helm.sh" version
mkdir -p "$work/chart/templates"
printf 'apiVersion: v2\nname: smoke\nversion: 0.1.0\nkubeVersion: ">=1.27.0-0"\n' >"$work/chart/Chart.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: hello\n' \
	>"$work/chart/templates/configmap.yaml"
check "helm template renders the tiny chart" \
	bash -c '"$1" template hi "$2" | grep -q "name: hi-config"' _ "$root/scripts/helm.sh" "$work/chart"
check "helm install the tiny chart" "$root/scripts/helm.sh" install hi "$work/chart" -n smoke --wait --timeout 60s
check "the release's ConfigMap exists" kubectl -n smoke get configmap hi-config
check "helm uninstall removes it" bash -c '"$1" uninstall hi -n smoke --wait && ! kubectl -n smoke get configmap hi-config' \
	_ "$root/scripts/helm.sh"
check "helm install charts/rolesync is accepted (its Deployment never runs here)" \
	"$root/scripts/helm.sh" install rolesync "$root/charts/rolesync" -n rolesync-system --create-namespace
check "its Deployment and CRDs are stored" bash -c '
	kubectl -n rolesync-system get deployment rolesync && kubectl get crd roleassignments.rolesync.dev'

# Stop: one ready line, clean exit on SIGTERM, nothing left listening; then a restart on the
# same data keeps it.
check "exactly one line on stdout" bash -c '[ "$(wc -l <"$1")" -eq 1 ]' _ "$work/server.out"
port=${url##*:}
kill -TERM "$server"
began=$SECONDS
wait "$server"
status=$?
if [ $status -eq 0 ]; then ok "exit status 0 on SIGTERM, after $((SECONDS - began)) s"; else fail "exit status $status on SIGTERM"; fi
check "the process is gone" bash -c '! kill -0 "$1" 2>/dev/null' _ "$server"
server=""
check "nothing listens on port $port any more" bash -c '[ -z "$(ss -Htln "sport = :$1")" ]' _ "$port"
start
check "after a restart on the same data, namespace smoke and its Widget remain" kubectl -n smoke get widget w
