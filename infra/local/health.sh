#!/usr/bin/env bash
# health.sh kafka|temporal|postgres: asks the service over its own protocol (Kafka metadata,
# Temporal WorkflowService GetSystemInfo, Postgres `select 1`). Exit 0 when it answers.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
exec node --conditions=source --import tsx infra/src/health-cli.ts "$@"
