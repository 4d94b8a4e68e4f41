#!/usr/bin/env bash
# Prints one install manifest (CRD, RBAC, manager Deployment) with the manager image set to $1.
set -euo pipefail
cd "$(dirname "$0")/.."
img="${1:?usage: build-installer.sh IMAGE}"
# kubectl's built-in kustomize cannot `edit set image`, so the image goes through an overlay.
overlay="$(mktemp -d "${PWD}/bin/installer.XXXXXX")"
trap 'rm -rf "${overlay}"' EXIT
last="${img##*/}"
if [[ "${last}" == *:* ]]; then name="${img%:*}"; tag="${img##*:}"; else name="${img}"; tag=latest; fi
cat > "${overlay}/kustomization.yaml" <<YAML
resources:
- ../../config/default
images:
# config/manager already renamed the placeholder "controller" to image-watcher.
- name: image-watcher
  newName: ${name}
  newTag: ${tag}
YAML
kubectl kustomize "${overlay}"
