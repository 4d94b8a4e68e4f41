#!/usr/bin/env bash
# Fails when the generated DeepCopy code, CRD or RBAC differ from what the markers say.
# It regenerates in place, so after a failure the tree holds the fresh files: commit them.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml)
before="$(mktemp -d)"
trap 'rm -rf "${before}"' EXIT
for p in "${paths[@]}"; do
  mkdir -p "${before}/$(dirname "$p")"
  [[ -e "$p" ]] && cp -r "$p" "${before}/$(dirname "$p")/"
done
make --no-print-directory -s generate manifests >/dev/null
for p in "${paths[@]}"; do
  if ! diff -r "${before}/$p" "$p" >/dev/null 2>&1; then
    echo "generated files are stale: ${p} changed under 'make generate manifests'; commit the result" >&2
    diff -r "${before}/$p" "$p" >&2 || true
    exit 1
  fi
done
