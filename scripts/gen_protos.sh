#!/usr/bin/env bash
# Regenerates the Python protobuf/gRPC modules and .pyi stubs from protos/.
# The output is committed; `--check` regenerates into a scratch directory and fails when
# the committed files differ (CI runs it through `make proto-check`).
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=libs/wasteland-common
out=$pkg
if [[ "${1:-}" == "--check" ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out/wasteland/v1"
rm -f "$out"/wasteland/v1/*_pb2*.py "$out"/wasteland/v1/*_pb2*.pyi
.venv/bin/python -m grpc_tools.protoc -I protos \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/wasteland/v1/*.proto
if [[ "${1:-}" == "--check" ]]; then
  if ! diff -r -x __init__.py -x __pycache__ "$out/wasteland/v1" "$pkg/wasteland/v1"; then
    echo "generated protobuf code is out of date: run 'make proto' and commit" >&2
    exit 1
  fi
  echo "generated protobuf code is up to date"
fi
