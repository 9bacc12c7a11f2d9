#!/usr/bin/env bash
# Makes clients/python/.venv (git-ignored): the Python client, editable, with its test extras from PyPI
# (pytest, LangGraph, Apache Airflow, ruff, mypy, build). Idempotent; test/python-client.int.test.ts uses it.
# uv resolves and installs the extras in seconds where pip took many minutes (Airflow's tree).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
[[ -x .venv/bin/uv ]] || .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
.venv/bin/uv pip install --quiet --python .venv/bin/python --editable ".[test,airflow]"
