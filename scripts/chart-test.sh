#!/usr/bin/env bash
# make chart-test: the Helm chart's whole proof, offline.
#   1. helm lint --strict with the operator's values file (examples/minimal-values.yaml)
#   2. ct lint (Chart.yaml schema, yamllint, helm lint with every ci/*.yaml); the chart is
#      named in charts/ct.yaml, so ct asks git for no remote and no changed charts
#   3. helm-unittest suites in charts/hosted-wasteland/tests
#   4. tests/chart (pytest -m chart) on a fresh throwaway control plane: helm template of
#      the example and every ci/*.yaml through kubeconform -strict with schemas from the
#      API server's own OpenAPI; helm install --wait, admission, RBAC, NetworkPolicies,
#      helm upgrade, helm uninstall
# Tools come from .tools/k8s (make chart-tools, make k8s-tools); helm's own config, cache
# and data live under .run/chart-test, never in $HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
chart=charts/hosted-wasteland
tools=$PWD/.tools/k8s
export PATH="$tools/bin:$PWD/.venv/bin:$PATH"
state=$PWD/.run/chart-test
rm -rf "$state"
mkdir -p "$state"
real_home=$HOME
# client-go (helm, ct) caches discovery under $HOME/.kube: keep it in the run directory.
export HOME=$state HELM_CACHE_HOME=$state/helm/cache HELM_CONFIG_HOME=$state/helm/config \
  HELM_DATA_HOME=$state/helm/data
start=$SECONDS

step() { echo; echo "== chart-test: $*"; }

step "helm lint"
helm lint --strict "$chart" -f "$chart/examples/minimal-values.yaml"

step "ct lint"
ct lint --config charts/ct.yaml \
  --chart-yaml-schema "$tools/share/chart-testing/chart_schema.yaml" \
  --lint-conf "$tools/share/chart-testing/lintconf.yaml"

step "helm-unittest"
helm-unittest --color=false "$chart"

step "kubeconform and install/upgrade/uninstall on a throwaway control plane (tests/chart)"
HOME=$real_home pytest -p no:cacheprovider -m chart tests/chart

echo
echo "chart-test: passed in $((SECONDS - start)) s"
