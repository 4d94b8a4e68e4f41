#!/usr/bin/env bash
# Provides etcd and kube-apiserver for envtest and for `make run`, cached under bin/.
# Prints the directory holding both binaries (use it as KUBEBUILDER_ASSETS).
#
# It tries setup-envtest first (works wherever its downloads do); where they do not, it builds
# both binaries from the Go module proxy, which is all some build machines can reach.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-v3.5.17}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${root}/bin/k8s/${K8S_VERSION}-$(go env GOOS)-$(go env GOARCH)"

log() { echo "envtest: $*" >&2; }

if [[ -x "${dir}/kube-apiserver" && -x "${dir}/etcd" ]]; then
  echo "${dir}"
  exit 0
fi
mkdir -p "${dir}"

# 1. setup-envtest, as users online would.
if path="$(timeout 120 go run sigs.k8s.io/controller-runtime/tools/setup-envtest@latest \
    use "${K8S_VERSION}" --bin-dir "${root}/bin" -p path 2>/dev/null)" \
    && [[ -x "${path}/kube-apiserver" && -x "${path}/etcd" ]]; then
  cp "${path}/kube-apiserver" "${path}/etcd" "${dir}/"
  echo "${dir}"
  exit 0
fi
log "setup-envtest could not download ${K8S_VERSION}; building etcd and kube-apiserver from the Go module proxy"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# 2a. etcd
if [[ ! -x "${dir}/etcd" ]]; then
  log "building etcd ${ETCD_VERSION} (about a minute)"
  mkdir -p "${work}/etcd" && cd "${work}/etcd"
  go mod init envtest.local/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1
  CGO_ENABLED=0 go build -o "${dir}/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "${dir}/etcd.tmp" "${dir}/etcd"
fi

# 2b. kube-apiserver: k8s.io/kubernetes refers to its staging modules by relative path, so each
# one is replaced with the published module of the matching version.
if [[ ! -x "${dir}/kube-apiserver" ]]; then
  log "building kube-apiserver v${K8S_VERSION} (about five minutes cold)"
  mkdir -p "${work}/apiserver" && cd "${work}/apiserver"
  go mod init envtest.local/apiserver >/dev/null 2>&1
  go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" > kube.json
  kube_mod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' kube.json)"
  staging="$(grep -o 'k8s.io/[a-z0-9-]* => ./staging' "${kube_mod}" | awk '{print $1}' | sort -u)"
  minor="${K8S_VERSION#*.}"
  {
    echo "module envtest.local/apiserver"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    for m in ${staging}; do echo "replace ${m} => ${m} v0.${minor}"; done
  } > go.mod
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  go mod tidy >/dev/null 2>&1
  CGO_ENABLED=0 go build -o "${dir}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "${dir}/kube-apiserver.tmp" "${dir}/kube-apiserver"
fi

echo "${dir}"
