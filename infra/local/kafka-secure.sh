# The secure-mode broker: a second KRaft node from the same jars as kafka.sh, on its own ports and data
# directory, with one SASL_SSL listener (SCRAM-SHA-256/512, the local CA's certificate) and
# StandardAuthorizer ACLs (nothing is allowed without one). Sourced by stack.sh after kafka.sh and pki.sh.
#
# Its principals are the SCRAM users made when its storage is formatted (KAFKA_SECURE_USERS), each with
# a generated password in $KAFKA_SECURE_DIR/users/NAME.password; `admin` is the super user that
# provisions topics and ACLs (infra/src/secure-kafka.ts). The controller listener is SASL_PLAINTEXT
# (PLAIN, a generated password) bound to the loopback interface: only this node talks to it.

: "${KAFKA_SECURE_BROKERS:=127.0.0.1:9192}"
export KAFKA_SECURE_BROKERS
KAFKA_SECURE_PORT="${KAFKA_SECURE_BROKERS##*:}"
KAFKA_SECURE_HOST="${KAFKA_SECURE_BROKERS%%:*}"
KAFKA_SECURE_CONTROLLER_PORT="${KAFKA_SECURE_CONTROLLER_PORT:-$((KAFKA_SECURE_PORT + 1))}"
KAFKA_SECURE_DIR="$STEPGATE_STATE_DIR/kafka-secure"
KAFKA_SECURE_PID="$KAFKA_SECURE_DIR/kafka.pid"
KAFKA_SECURE_LOG="$KAFKA_SECURE_DIR/kafka.log"
# Service principals, the control plane (CLI) and two orchestrators (the demo's, and a second tenant's).
: "${KAFKA_SECURE_USERS:=admin evaluator approvals audit control orchestrator-demo orchestrator-other}"

kafka_secure_password() {
  local file="$KAFKA_SECURE_DIR/users/$1.password"
  if [[ ! -f "$file" ]]; then
    mkdir -p "$KAFKA_SECURE_DIR/users"
    (umask 077 && openssl rand -hex 24 >"$file") # never readable by others, not even until a chmod
  fi
  cat "$file"
}

# The files the Docker Compose secure override mounts and reads (docker-compose.secure.yml): the PKI with
# the broker's PEM key store, and compose.env (the PKI path, the SCRAM users and passwords). Prints its path.
kafka_secure_compose_files() {
  pki_issue kafka-broker server; pki_issue postgres-server server
  cat "$PKI_DIR/kafka-broker.key" "$PKI_DIR/kafka-broker.pem" >"$PKI_DIR/kafka-broker-keystore.pem"
  # The Kafka image runs as its own user: the local CA's broker key is readable for it (a dev CA, never
  # a production one). PostgreSQL's container copies its key as root.
  chmod 644 "$PKI_DIR/kafka-broker-keystore.pem"
  local user pairs=()
  for user in $KAFKA_SECURE_USERS; do pairs+=("$user=$(kafka_secure_password "$user")"); done
  {
    echo "STEPGATE_PKI_DIR=$PKI_DIR"
    echo "STEPGATE_KAFKA_ADMIN_PASSWORD=$(kafka_secure_password admin)"
    echo "STEPGATE_KAFKA_USERS=\"${pairs[*]}\""
  } >"$KAFKA_SECURE_DIR/compose.env"
  chmod 600 "$KAFKA_SECURE_DIR/compose.env"
  echo "$KAFKA_SECURE_DIR/compose.env"
}

kafka_secure_configure() {
  pki_issue kafka-broker server
  mkdir -p "$KAFKA_SECURE_DIR/data" "$KAFKA_SECURE_DIR/logs"
  local admin_pw controller_pw
  admin_pw=$(kafka_secure_password admin)
  controller_pw=$(kafka_secure_password controller)
  cat "$PKI_DIR/kafka-broker.key" "$PKI_DIR/kafka-broker.pem" >"$KAFKA_SECURE_DIR/keystore.pem"
  chmod 600 "$KAFKA_SECURE_DIR/keystore.pem" "$KAFKA_SECURE_DIR"/users/*.password
  cat >"$KAFKA_SECURE_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_SECURE_HOST:$KAFKA_SECURE_CONTROLLER_PORT
listeners=SASL_SSL://$KAFKA_SECURE_HOST:$KAFKA_SECURE_PORT,CONTROLLER://127.0.0.1:$KAFKA_SECURE_CONTROLLER_PORT
advertised.listeners=SASL_SSL://$KAFKA_SECURE_HOST:$KAFKA_SECURE_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="$controller_pw" user_controller="$controller_pw";
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_SECURE_DIR/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_DIR/ca.pem
ssl.endpoint.identification.algorithm=https
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller
PROPS
  kafka_single_node_properties "$KAFKA_SECURE_DIR/data" 4 24 >>"$KAFKA_SECURE_DIR/server.properties"
  chmod 600 "$KAFKA_SECURE_DIR/server.properties"
  printf 'log4j.rootLogger=WARN, stdout\nlog4j.appender.stdout=org.apache.log4j.ConsoleAppender\nlog4j.appender.stdout.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stdout.layout.ConversionPattern=[%%d] %%p %%m (%%c)%%n\nlog4j.logger.kafka.server.KafkaServer=INFO\n' \
    >"$KAFKA_SECURE_DIR/log4j.properties"
  if [[ ! -f "$KAFKA_SECURE_DIR/data/meta.properties" ]]; then
    local scram=() user
    for user in $KAFKA_SECURE_USERS; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$(kafka_secure_password "$user")]")
      scram+=(--add-scram "SCRAM-SHA-256=[name=$user,password=$(kafka_secure_password "$user")]")
    done
    log "kafka-secure: formatting storage with SCRAM users: $KAFKA_SECURE_USERS"
    kafka_secure_java_quiet kafka.tools.StorageTool format -t "$(kafka_secure_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)" \
      -c "$KAFKA_SECURE_DIR/server.properties" "${scram[@]}" >>"$KAFKA_SECURE_LOG" 2>&1 \
      || fail_with_log kafka-secure "$KAFKA_SECURE_LOG" "storage format failed"
  fi
}

KAFKA_SECURE_JVM_ARGS=(-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  -Dlog4j.configuration="file:$KAFKA_SECURE_DIR/log4j.properties" -Dkafka.logs.dir="$KAFKA_SECURE_DIR/logs"
  -cp "$KAFKA_HOME/libs/*")
kafka_secure_java() { java "${KAFKA_SECURE_JVM_ARGS[@]}" "$@"; }

# kafka_secure_java_quiet MAIN ARGS...: kafka_secure_java with the main class and its arguments read from
# a pipe (java's @argfile, written by the shell's builtin printf), not from its command line, which every
# local user can list (/proc/PID/cmdline): for the tools given SCRAM passwords as arguments. No file
# holds them, so none is left behind by a killed run.
kafka_secure_java_quiet() {
  kafka_secure_java @<(
    for arg in "$@"; do
      # An argfile token is double-quoted; in it, backslash escapes, and a raw line break would end it.
      arg=${arg//\\/\\\\}; arg=${arg//\"/\\\"}; arg=${arg//$'\n'/\\n}; arg=${arg//$'\r'/\\r}
      printf '"%s"\n' "$arg"
    done
  )
}

# What a client of the secure broker sets, as NAME (default admin): printed by `stack.sh env-secure NAME`.
kafka_secure_client_env() {
  local user=${1:-admin}
  [[ -f "$KAFKA_SECURE_DIR/users/$user.password" ]] || die "kafka-secure: no user $user (known: $KAFKA_SECURE_USERS)"
  cat <<ENV
KAFKA_BROKERS=$KAFKA_SECURE_BROKERS
KAFKA_SSL=true
KAFKA_SSL_CA_FILE=$PKI_DIR/ca.pem
KAFKA_SASL_MECHANISM=scram-sha-512
KAFKA_SASL_USERNAME=$user
KAFKA_SASL_PASSWORD_FILE=$KAFKA_SECURE_DIR/users/$user.password
ENV
}

# kafka_secure_as_admin CMD...: CMD with the admin's client settings in its environment (readable by this
# user only), not given as `env NAME=value` arguments every local user can list.
kafka_secure_as_admin() (
  local settings setting
  settings=$(kafka_secure_client_env admin) || exit 1 # no admin yet: fail, never run CMD without its settings
  while IFS= read -r setting; do export "$setting"; done <<<"$settings"
  "$@"
)

kafka_secure_health() { kafka_secure_as_admin "$INFRA_LOCAL_DIR/health.sh" kafka; }

kafka_secure_install() { kafka_install; }

kafka_secure_start() {
  if pid_alive "$KAFKA_SECURE_PID"; then log "kafka-secure: already running (pid $(cat "$KAFKA_SECURE_PID"))"; return 0; fi
  kafka_install
  kafka_secure_configure
  log "kafka-secure: starting $KAFKA_VERSION with SASL_SSL on $KAFKA_SECURE_BROKERS"
  detached java "${KAFKA_SECURE_JVM_ARGS[@]}" kafka.Kafka "$KAFKA_SECURE_DIR/server.properties" >>"$KAFKA_SECURE_LOG" 2>&1 </dev/null &
  echo $! >"$KAFKA_SECURE_PID"
  local deadline=$((SECONDS + ${STEPGATE_HEALTH_TIMEOUT:-120}))
  while ((SECONDS < deadline)); do
    pid_alive "$KAFKA_SECURE_PID" || fail_with_log kafka-secure "$KAFKA_SECURE_LOG" "process exited during start-up"
    if kafka_secure_health >/dev/null 2>&1; then log "kafka-secure: healthy"; return 0; fi
    sleep 0.5
  done
  fail_with_log kafka-secure "$KAFKA_SECURE_LOG" "no healthy answer within ${STEPGATE_HEALTH_TIMEOUT:-120} s"
}

kafka_secure_stop() { stop_pidfile kafka-secure "$KAFKA_SECURE_PID"; }

# kafka_secure_add_user NAME: a SCRAM user on the running broker (for principals beyond KAFKA_SECURE_USERS).
kafka_secure_add_user() {
  local user=$1 pw props
  pw=$(kafka_secure_password "$user")
  props="$KAFKA_SECURE_DIR/admin-client.properties"
  cat >"$props" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(kafka_secure_password admin)";
ssl.truststore.type=PEM
ssl.truststore.location=$PKI_DIR/ca.pem
PROPS
  chmod 600 "$props"
  # One mechanism per request: a KRaft broker refuses two changes to one user's credentials in the same one.
  local mechanism
  for mechanism in SCRAM-SHA-512 SCRAM-SHA-256; do
    kafka_secure_java_quiet kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_SECURE_BROKERS" --command-config "$props" \
      --alter --entity-type users --entity-name "$user" --add-config "$mechanism=[password=$pw]" >&2
  done
  log "kafka-secure: user $user (password in $KAFKA_SECURE_DIR/users/$user.password)"
}
