# Hosted Wasteland — every task in one place. `make run` and `make test` install what
# they need: a pinned uv in .tools/uv and the locked virtual environment in .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := .tools/uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export UV_PROJECT_ENVIRONMENT := $(VENV)
MEMBERS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml devtools/*/pyproject.toml)
PY_DIRS := libs services devtools tests benchmarks

K8S_TOOLS := .tools/k8s
K8S_MODULES := tools/go/etcd tools/go/kwok tools/go/kubernetes
CHART_MODULES := tools/go/helm tools/go/kubeconform tools/go/helm-unittest tools/go/chart-testing

.PHONY: help install run run-kubernetes token test lint format typecheck proto proto-check unit pytest bench images clean wl k8s-tools chart-tools chart-test cluster-up cluster-down

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: uv.lock pyproject.toml $(MEMBERS) | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.installed ## create .venv from uv.lock

run: install ## start the whole system on embedded defaults (Ctrl-C stops it)
	$(BIN)/devstack run

run-kubernetes: install k8s-tools ## the whole system with RUNTIME=kubernetes on a throwaway control plane
	$(BIN)/devstack run --runtime kubernetes

k8s-tools: ## build (or take from the cache) etcd, kube-*, kubectl, kwok into .tools/k8s/bin
	@if command -v go >/dev/null; then scripts/go-tools.sh $(K8S_TOOLS) $(K8S_MODULES); \
	else echo "k8s-tools: Go is not installed; the Kubernetes tests will be skipped"; fi

chart-tools: ## build (or take from the cache) helm, kubeconform, helm-unittest, ct into .tools/k8s/bin
	scripts/go-tools.sh $(K8S_TOOLS) $(CHART_MODULES)

chart-test: install k8s-tools chart-tools ## helm lint, ct lint, helm-unittest, kubeconform, install/upgrade/uninstall on a throwaway control plane
	scripts/chart-test.sh

cluster-up: install k8s-tools ## start a throwaway control plane (.run/cluster/kubeconfig)
	$(BIN)/devstack cluster up --dir .run/cluster

cluster-down: install ## stop the control plane cluster-up started
	$(BIN)/devstack cluster down --dir .run/cluster

WL_API_URL ?= http://127.0.0.1:$(or $(DOLTHUB_SANDBOX_PORT),7355)/api/v1alpha1
wl: install ## build the real wl v0.4.0 for a DoltHub API URL (default: the sandbox); prints its path
	@$(BIN)/python -m devstack.wlbuild --api-url $(WL_API_URL)

token: install ## print a development JWT: make token USER=alice [ORG=acme:owner]
	@$(BIN)/devstack token $(USER) $(if $(ORG),--org $(ORG))

test: install lint typecheck proto-check pytest ## lint, type checks, proto drift, all tests

lint: install ## ruff lint and format check
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

format: install ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix $(PY_DIRS)
	$(BIN)/ruff format $(PY_DIRS)

typecheck: install ## mypy --strict over our code
	$(BIN)/mypy libs/wasteland-common/wasteland_common services/*/wl_* devtools/*/dolthub_sandbox devtools/*/wl_standin devtools/*/devstack benchmarks

proto: install ## regenerate Python code from protos/
	scripts/gen_protos.sh

proto-check: install ## fail when the committed generated code differs from protos/
	scripts/gen_protos.sh --check

pytest: install k8s-tools ## unit, integration, Kubernetes and end-to-end tests (image and chart checks: make images, make chart-test)
	$(BIN)/pytest -m "not images and not chart"

bench: install ## start the stack, run every scenario, print one table (.bench/*.json); BENCH_ARGS=--quick
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

images: install ## build every image here (podman, no registry), run and check each, clean up
	UV_VERSION=$(UV_VERSION) scripts/images.sh

clean: ## remove the virtual environment and local run data
	rm -rf $(VENV) .tools .run .mypy_cache .pytest_cache .ruff_cache
