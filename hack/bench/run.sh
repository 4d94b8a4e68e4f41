#!/usr/bin/env bash
# `make bench`: the scale benchmark of docs/benchmark.md. Flags go to the bench; anything
# after "--" goes to the manager, e.g. hack/bench/run.sh -resources 500 -- --max-concurrent-reconciles=8
set -euo pipefail
cd "$(dirname "$0")/../.."
export KUBEBUILDER_ASSETS="$(hack/envtest.sh)"
go build -o bin/image-watcher .
go build -o bin/bench ./hack/bench
exec bin/bench "$@"
