# PostgreSQL from Debian's packages, in a cluster of stepgate's own (never the system cluster). Sourced by stack.sh.

PG_DIR="$STEPGATE_STATE_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_SOCKET_DIR="$PG_DIR/run"
PG_PID="$PG_DIR/postgres.pid"
PG_LOG="$PG_DIR/postgres.log"

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

postgres_install() {
  if [[ -n "$(pg_bindir)" && -x "$(pg_bindir)/initdb" ]]; then return 0; fi
  log "postgres: installing Debian's postgresql"
  local sudo=""; [[ $EUID -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
  [[ -x "$(pg_bindir)/initdb" ]] || die "postgres: initdb not found after install"
}

# PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
as_pg_owner() {
  if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_init() {
  mkdir -p "$PG_DIR" "$PG_SOCKET_DIR"
  [[ $EUID -eq 0 ]] && { chmod 755 "$STEPGATE_STATE_DIR"; chown postgres:postgres "$PG_DIR" "$PG_SOCKET_DIR"; }
  # Commits are durable (Postgres's default): the evaluator publishes a decision, and the audit
  # consumer commits offsets, only after the rows are committed. Data dirs made before this dropped it.
  [[ -f "$PG_DATA/postgresql.conf" ]] && sed -i '/^synchronous_commit = off$/d' "$PG_DATA/postgresql.conf"
  if [[ -f "$PG_DATA/PG_VERSION" ]]; then return 0; fi
  log "postgres: initdb $PG_DATA"
  as_pg_owner "$(pg_bindir)/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >>"$PG_LOG.init" 2>&1 || fail_with_log postgres "$PG_LOG.init" "initdb failed"
  cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
max_connections = 300
shared_buffers = 256MB
CONF
}

postgres_provision_db() {
  local psql=("$(pg_bindir)/psql" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
  if [[ "$(as_pg_owner "${psql[@]}" -d postgres -c "select 1 from pg_roles where rolname = '$PG_USER'")" != 1 ]]; then
    # On stdin, not in -c: a command line is listed to every local user, and this one holds the password.
    printf 'create role "%s" login createdb password '"'"'%s'"'"';\n' "${PG_USER//\"/\"\"}" "${PG_PASSWORD//\'/\'\'}" |
      as_pg_owner "${psql[@]}" -d postgres
  fi
  if [[ "$(as_pg_owner "${psql[@]}" -d postgres -c "select 1 from pg_database where datname = '$PG_DB'")" != 1 ]]; then
    as_pg_owner "${psql[@]}" -d postgres -c "create database \"$PG_DB\" owner \"$PG_USER\""
  fi
}

postgres_start() {
  if pid_alive "$PG_PID"; then log "postgres: already running (pid $(cat "$PG_PID"))"; return 0; fi
  if "$INFRA_LOCAL_DIR/health.sh" postgres >/dev/null 2>&1; then log "postgres: something already answers at $PG_HOST:$PG_PORT; using it"; return 0; fi
  postgres_install
  postgres_init
  log "postgres: starting $(basename "$(dirname "$(pg_bindir)")") on $PG_HOST:$PG_PORT"
  touch "$PG_LOG"; [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_LOG"
  as_pg_owner "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null \
    || fail_with_log postgres "$PG_LOG" "pg_ctl start failed"
  head -n 1 "$PG_DATA/postmaster.pid" >"$PG_PID"
  postgres_provision_db
  wait_healthy postgres "$PG_LOG" "$PG_PID"
}

postgres_stop() {
  if pid_alive "$PG_PID"; then
    as_pg_owner "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || true
  fi
  stop_pidfile postgres "$PG_PID"
}

# Secure mode: the cluster also serves TLS (a certificate of the local CA), turned on with a reload —
# never a restart — so plaintext clients on the same port keep working (pg_hba's `host` lines allow both).
postgres_tls_on() {
  [[ -f "$PG_DATA/postgresql.conf" ]] || die "postgres: TLS needs the native cluster of $PG_DATA (not one started elsewhere)"
  pki_issue postgres-server server
  install -m 600 "$PKI_DIR/postgres-server.pem" "$PG_DATA/stepgate-tls.crt"
  install -m 600 "$PKI_DIR/postgres-server.key" "$PG_DATA/stepgate-tls.key"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DATA/stepgate-tls.crt" "$PG_DATA/stepgate-tls.key"
  if ! grep -q '^# stepgate secure mode$' "$PG_DATA/postgresql.conf"; then
    cat >>"$PG_DATA/postgresql.conf" <<CONF
# stepgate secure mode
ssl = on
ssl_cert_file = 'stepgate-tls.crt'
ssl_key_file = 'stepgate-tls.key'
CONF
  fi
  local psql=("$(pg_bindir)/psql" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -qAt -d postgres)
  if [[ "$(as_pg_owner "${psql[@]}" -c 'show ssl')" != on ]]; then
    as_pg_owner "${psql[@]}" -c 'select pg_reload_conf()' >/dev/null
    local i
    for ((i = 0; i < 50; i++)); do [[ "$(as_pg_owner "${psql[@]}" -c 'show ssl')" == on ]] && break; sleep 0.1; done
    [[ "$(as_pg_owner "${psql[@]}" -c 'show ssl')" == on ]] || fail_with_log postgres "$PG_LOG" "ssl did not turn on after a reload"
  fi
  log "postgres: TLS on ($PG_HOST:$PG_PORT, CA $PKI_DIR/ca.pem)"
}
