#!/usr/bin/env bash
# Lint, type-check and package the Python client (the pytest suite runs under `npm test`, on the real stack).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
py=.venv/bin/python
$py -m ruff check src tests ../../examples/python
$py -m ruff format --check src tests ../../examples/python
$py -m mypy
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/uv build --quiet --wheel --out-dir "$out" .
ls "$out"/stepgate-*.whl
