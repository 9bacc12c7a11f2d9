#!/usr/bin/env bash
# stack.sh up|down|status [kafka|temporal|postgres ...]: the native Kafka, Temporal and PostgreSQL
# stepgate runs on. Idempotent: `up` starts only what is not answering; a second `up` is a no-op.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
source "$here/kafka.sh"
source "$here/temporal.sh"
source "$here/postgres.sh"
source "$here/pki.sh"
source "$here/kafka-secure.sh"

cmd="${1:-status}"; shift || true
# --secure: also the SASL_SSL broker (its ACLs and topics), and TLS on the PostgreSQL cluster.
secure=false; services=()
for arg in "$@"; do if [[ $arg == --secure ]]; then secure=true; else services+=("${arg//-/_}"); fi; done
((${#services[@]})) || { services=(postgres kafka temporal); $secure && services+=(kafka_secure); }
mkdir -p "$STEPGATE_CACHE_DIR" "$STEPGATE_STATE_DIR"

timed() {
  local t0=$SECONDS; "$@"; log "$1 took $((SECONDS - t0)) s"
}

case "$cmd" in
  up)
    for s in "${services[@]}"; do timed "${s}_start"; done
    if $secure; then
      timed postgres_tls_on
      # For a TLS-terminating proxy in front of Temporal's plaintext port, and its mTLS clients.
      pki_issue temporal-proxy server; pki_issue temporal-client client
    fi
    if [[ " ${services[*]} " == *" kafka_secure "* ]]; then
      ( cd "$REPO_ROOT" && kafka_secure_as_admin node --conditions=source --import tsx infra/src/secure-provision-cli.ts )
    fi
    ( cd "$REPO_ROOT" && node --conditions=source --import tsx infra/src/provision-cli.ts )
    cat <<ENDPOINTS
KAFKA_BROKERS=$KAFKA_BROKERS
TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS
DATABASE_URL=$DATABASE_URL
ENDPOINTS
    if $secure; then echo "# secure mode: a service's settings come from: bash infra/local/stack.sh env-secure NAME"; fi
    ;;
  env-secure)
    # env-secure NAME: the variables of principal NAME for the secure broker and TLS PostgreSQL.
    kafka_secure_client_env "${1:-admin}"
    echo "DATABASE_SSLMODE=verify-full"
    echo "DATABASE_SSL_CA_FILE=$PKI_DIR/ca.pem" ;;
  secure-files)
    # The certificates, keys and passwords docker-compose.secure.yml mounts; prints its compose.env.
    kafka_secure_compose_files ;;
  kafka-user)
    # kafka-user NAME: a SCRAM user on the running secure broker (password kept in its users/ directory).
    kafka_secure_add_user "${1:?usage: stack.sh kafka-user NAME}" ;;
  install)
    for s in "${services[@]}"; do timed "${s}_install"; done ;;
  down)
    for ((i = ${#services[@]} - 1; i >= 0; i--)); do "${services[i]}_stop"; done ;;
  status)
    rc=0
    for s in "${services[@]}"; do
      if [[ $s == kafka_secure ]]; then
        if out=$(kafka_secure_health 2>&1); then echo "kafka-secure: up ($out)"; else echo "kafka-secure: down ($(tail -n 1 <<<"$out"))"; rc=1; fi
        continue
      fi
      if out=$("$here/health.sh" "$s" 2>&1); then echo "$s: up ($out)"; else echo "$s: down ($(tail -n 1 <<<"$out"))"; rc=1; fi
    done
    exit $rc ;;
  *) die "usage: stack.sh up|down|status|install [--secure] [kafka|temporal|postgres|kafka-secure ...] | env-secure NAME | kafka-user NAME" ;;
esac
