#!/usr/bin/env bash
# `make run`: the controller from source against the current cluster; with no reachable
# cluster, against a local control plane started here (and stopped when you press Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
go build -o bin/image-watcher .

if kubectl version --request-timeout=5s >/dev/null 2>&1; then
  echo "Using the current cluster ($(kubectl config current-context)); installing the CRD." >&2
  kubectl apply --server-side -f config/crd/bases >/dev/null
  exec bin/image-watcher "$@"
fi

echo "No cluster reachable through the current kubeconfig; starting a local control plane." >&2
export KUBEBUILDER_ASSETS="$(hack/envtest.sh)"
# Metrics and probes move off the usual ports so they do not clash with anything else local.
go build -o bin/localcluster ./hack/localcluster
exec bin/localcluster -- bin/image-watcher --metrics-bind-address=:18080 --health-probe-bind-address=:18081 "$@"
