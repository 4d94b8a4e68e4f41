# image-watcher: the two commands a newcomer needs are `make run` and `make test`.

IMG ?= image-watcher:latest
LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT_VERSION ?= v2.6.2
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# Arguments for the manager under `make run`, e.g. make run ARGS="--zap-log-level=debug".
ARGS ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD and RBAC manifests under config/.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify-generated
verify-generated: controller-gen ## Fail when generated code or manifests are stale.
	hack/verify-generated.sh

.PHONY: fmt
fmt: ## Run gofmt over the code.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run

.PHONY: envtest
envtest: ## Provide etcd and kube-apiserver for the tests under bin/ (download, or build from the module proxy).
	@hack/envtest.sh >/dev/null

.PHONY: test
test: verify-generated vet envtest ## Run every test: unit, registry, and controller tests on a real kube-apiserver.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" go test ./... -count=1 -timeout 20m

.PHONY: bench
bench: envtest ## Scale benchmark: cold start of 1,000 WatchedImages on a local control plane (docs/benchmark.md). ARGS go to hack/bench/run.sh.
	hack/bench/run.sh $(ARGS)

##@ Build

.PHONY: build
build: ## Build the image-watcher binary into bin/.
	CGO_ENABLED=0 go build -trimpath -o bin/image-watcher .

.PHONY: run
run: envtest ## Run the controller against the current cluster, or a local control plane when none is reachable.
	hack/run.sh $(ARGS)

.PHONY: docker-build
docker-build: ## Build the container image.
	docker build -t $(IMG) .

.PHONY: build-installer
build-installer: manifests ## Write dist/install.yaml: CRD, RBAC and the manager Deployment for IMG.
	mkdir -p dist
	hack/build-installer.sh "$(IMG)" > dist/install.yaml

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD into the current cluster.
	kubectl apply --server-side -k config/crd

.PHONY: uninstall
uninstall: ## Remove the CRD (and every WatchedImage) from the current cluster.
	kubectl delete -k config/crd --ignore-not-found

.PHONY: deploy
deploy: build-installer ## Install CRD, RBAC and the manager into the current cluster.
	kubectl apply --server-side -f dist/install.yaml

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@
