# Shared settings for the native stack. Sourced, never run.
# Every endpoint comes from the same variables the services and tests read.
set -euo pipefail

KAFKA_VERSION=3.9.1
TEMPORAL_CLI_VERSION=1.5.1
TEMPORAL_TEST_SERVER_VERSION=1.38.0

: "${KAFKA_BROKERS:=127.0.0.1:9092}"
: "${TEMPORAL_ADDRESS:=127.0.0.1:7233}"
: "${DATABASE_URL:=postgres://stepgate:stepgate@127.0.0.1:5433/stepgate}"
export KAFKA_BROKERS TEMPORAL_ADDRESS DATABASE_URL

# Downloads and built binaries, keyed by version; safe to delete.
: "${STEPGATE_CACHE_DIR:=${XDG_CACHE_HOME:-$HOME/.cache}/stepgate}"
# Data and logs of the running services. Root gets a world-traversable place because
# PostgreSQL refuses to run as root and its own user cannot enter /root.
if [[ $EUID -eq 0 ]]; then
  : "${STEPGATE_STATE_DIR:=/var/lib/stepgate}"
else
  : "${STEPGATE_STATE_DIR:=${XDG_STATE_HOME:-$HOME/.local/state}/stepgate}"
fi
INFRA_LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_LOCAL_DIR/../.." && pwd)"

KAFKA_PORT="${KAFKA_BROKERS##*:}"; KAFKA_PORT="${KAFKA_PORT%%,*}"
KAFKA_HOST="${KAFKA_BROKERS%%:*}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
TEMPORAL_PORT="${TEMPORAL_ADDRESS##*:}"
TEMPORAL_HOST="${TEMPORAL_ADDRESS%%:*}"
# postgres://user:pass@host:port/db
_pg_rest="${DATABASE_URL#*://}"
PG_USER="${_pg_rest%%:*}"
_pg_rest="${_pg_rest#*:}"; PG_PASSWORD="${_pg_rest%%@*}"
_pg_rest="${_pg_rest#*@}"; PG_HOST="${_pg_rest%%:*}"
_pg_rest="${_pg_rest#*:}"; PG_PORT="${_pg_rest%%/*}"
PG_DB="${_pg_rest#*/}"; PG_DB="${PG_DB%%\?*}"
unset _pg_rest

log() { printf '[infra %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Runs a daemon in a session of its own, holding none of this shell's open files but its stdio (set
# by the caller's redirections). Otherwise a lock the caller holds (`flock <file> npm test`) or a
# test runner's pipe lives on in a broker for hours: the lock is never released. Call it in the
# background (`detached cmd … &`): it replaces the shell it runs in.
detached() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    if ((fd > 2)); then eval "exec ${fd}>&-"; fi
  done
  exec setsid "$@"
}

# pid_alive FILE: the pid in FILE names a live process.
pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile NAME FILE: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pidfile() {
  local name=$1 file=$2 pid i
  if ! pid_alive "$file"; then rm -f "$file"; log "$name: not running"; return 0; fi
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name: still up after 30 s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$file"; log "$name: stopped"
}

# fail_with_log NAME LOGFILE MESSAGE: name the failure and show what the service said.
fail_with_log() {
  log "ERROR: $1: $3"
  if [[ -f "$2" ]]; then log "last lines of $2:"; tail -n 40 "$2" >&2; fi
  exit 1
}

# wait_healthy NAME LOGFILE PIDFILE: poll the real protocol check until it answers.
wait_healthy() {
  local name=$1 logfile=$2 pidfile=$3 deadline=$((SECONDS + ${STEPGATE_HEALTH_TIMEOUT:-120}))
  while ((SECONDS < deadline)); do
    pid_alive "$pidfile" || fail_with_log "$name" "$logfile" "process exited during start-up"
    if "$INFRA_LOCAL_DIR/health.sh" "$name" >/dev/null 2>&1; then log "$name: healthy"; return 0; fi
    sleep 0.5
  done
  fail_with_log "$name" "$logfile" "no healthy answer within ${STEPGATE_HEALTH_TIMEOUT:-120} s ($("$INFRA_LOCAL_DIR/health.sh" "$name" 2>&1 | tail -n 1))"
}
