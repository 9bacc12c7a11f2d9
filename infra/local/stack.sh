#!/usr/bin/env bash
# stack.sh up|down|status [kafka|temporal|postgres ...]: the native Kafka, Temporal and PostgreSQL
# stepgate runs on. Idempotent: `up` starts only what is not answering; a second `up` is a no-op.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
source "$here/kafka.sh"
source "$here/temporal.sh"
source "$here/postgres.sh"

cmd="${1:-status}"; shift || true
services=("$@"); ((${#services[@]})) || services=(postgres kafka temporal)
mkdir -p "$STEPGATE_CACHE_DIR" "$STEPGATE_STATE_DIR"

timed() {
  local t0=$SECONDS; "$@"; log "$1 took $((SECONDS - t0)) s"
}

case "$cmd" in
  up)
    for s in "${services[@]}"; do timed "${s}_start"; done
    ( cd "$REPO_ROOT" && node --conditions=source --import tsx infra/src/provision-cli.ts )
    cat <<ENDPOINTS
KAFKA_BROKERS=$KAFKA_BROKERS
TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS
DATABASE_URL=$DATABASE_URL
ENDPOINTS
    ;;
  install)
    for s in "${services[@]}"; do timed "${s}_install"; done ;;
  down)
    for ((i = ${#services[@]} - 1; i >= 0; i--)); do "${services[i]}_stop"; done ;;
  status)
    rc=0
    for s in "${services[@]}"; do
      if out=$("$here/health.sh" "$s" 2>&1); then echo "$s: up ($out)"; else echo "$s: down ($(tail -n 1 <<<"$out"))"; rc=1; fi
    done
    exit $rc ;;
  *) die "usage: stack.sh up|down|status|install [kafka|temporal|postgres ...]" ;;
esac
