# Apache Kafka, KRaft single node (broker + controller), from Maven Central jars. Sourced by stack.sh.

KAFKA_HOME="$STEPGATE_CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_DIR="$STEPGATE_STATE_DIR/kafka"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_LOG="$KAFKA_DIR/kafka.log"

kafka_install() {
  if [[ -f "$KAFKA_HOME/.complete" ]]; then return 0; fi
  command -v java >/dev/null || die "kafka: java not found (install a JDK 17+)"
  command -v mvn >/dev/null || die "kafka: mvn not found (apt-get install maven)"
  log "kafka: resolving kafka_2.13:$KAFKA_VERSION from Maven Central into $KAFKA_HOME"
  rm -rf "$KAFKA_HOME"
  mvn -B -q -Dstyle.color=never -f "$INFRA_LOCAL_DIR/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs" >&2
  ls "$KAFKA_HOME/libs"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka: broker jar missing after download"
  touch "$KAFKA_HOME/.complete"
}

KAFKA_JVM_ARGS=(-Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" -Dkafka.logs.dir="$KAFKA_DIR/logs"
  -cp "$KAFKA_HOME/libs/*")
kafka_java() { java "${KAFKA_JVM_ARGS[@]}" "$@"; }

# kafka_single_node_properties DATA_DIR OFFSETS_PARTITIONS RETENTION_HOURS: storage and topic defaults of
# a one-node cluster (no replication, no auto-created topics).
kafka_single_node_properties() {
  cat <<PROPS
log.dirs=$1
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=$2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=$3
PROPS
}

kafka_configure() {
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  cat >"$KAFKA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PROPS
  kafka_single_node_properties "$KAFKA_DIR/data" 10 168 >>"$KAFKA_DIR/server.properties"
  cat >"$KAFKA_DIR/log4j.properties" <<'PROPS'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
PROPS
  if [[ ! -f "$KAFKA_DIR/data/meta.properties" ]]; then
    local cluster_id
    cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    log "kafka: formatting storage (cluster $cluster_id)"
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" >>"$KAFKA_LOG" 2>&1 \
      || fail_with_log kafka "$KAFKA_LOG" "storage format failed"
  fi
}

kafka_start() {
  if pid_alive "$KAFKA_PID"; then log "kafka: already running (pid $(cat "$KAFKA_PID"))"; return 0; fi
  if "$INFRA_LOCAL_DIR/health.sh" kafka >/dev/null 2>&1; then log "kafka: something already answers on $KAFKA_BROKERS; using it"; return 0; fi
  kafka_install
  kafka_configure
  log "kafka: starting $KAFKA_VERSION on $KAFKA_BROKERS"
  detached java "${KAFKA_JVM_ARGS[@]}" kafka.Kafka "$KAFKA_DIR/server.properties" >>"$KAFKA_LOG" 2>&1 </dev/null &
  echo $! >"$KAFKA_PID"
  wait_healthy kafka "$KAFKA_LOG" "$KAFKA_PID"
}

kafka_stop() { stop_pidfile kafka "$KAFKA_PID"; }
