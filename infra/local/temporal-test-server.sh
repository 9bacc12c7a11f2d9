#!/usr/bin/env bash
# temporal-test-server.sh: installs Temporal's time-skipping test server (the Java SDK's, from Maven
# Central) into $STEPGATE_CACHE_DIR once, and prints the path of its launcher on stdout. The launcher
# takes the port as its first argument, as @temporalio/testing's `existing-path` executable does:
#   TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } })
# Safe to run concurrently (test files of one run may ask at once): the install holds a lock.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"

TEMPORAL_TEST_SERVER_HOME="$STEPGATE_CACHE_DIR/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION"
launcher="$TEMPORAL_TEST_SERVER_HOME/bin/temporal-test-server"

install_test_server() {
  [[ -f "$TEMPORAL_TEST_SERVER_HOME/.complete" ]] && return 0
  command -v java >/dev/null || die "temporal-test-server: java not found (install a JDK 17+)"
  command -v mvn >/dev/null || die "temporal-test-server: mvn not found (apt-get install maven)"
  log "temporal-test-server: resolving io.temporal:temporal-test-server:$TEMPORAL_TEST_SERVER_VERSION from Maven Central into $TEMPORAL_TEST_SERVER_HOME"
  rm -rf "$TEMPORAL_TEST_SERVER_HOME/libs" "$TEMPORAL_TEST_SERVER_HOME/bin"
  mvn -B -q -Dstyle.color=never -f "$INFRA_LOCAL_DIR/temporal-test-server/pom.xml" \
    -Dtemporal.test.server.version="$TEMPORAL_TEST_SERVER_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$TEMPORAL_TEST_SERVER_HOME/libs" >&2
  ls "$TEMPORAL_TEST_SERVER_HOME/libs/temporal-test-server-$TEMPORAL_TEST_SERVER_VERSION.jar" >/dev/null \
    || die "temporal-test-server: jar missing after download"
  mkdir -p "$TEMPORAL_TEST_SERVER_HOME/bin"
  # exec: the SDK stops the server by killing the process it started, which must be the JVM itself.
  # C1 only and a small serial heap: the SDK gives the server 5 s to answer, on a machine that may be busy.
  cat >"$launcher.tmp" <<LAUNCHER
#!/bin/sh
exec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xss512k -Xmx512m -Djava.awt.headless=true \\
  -cp '$TEMPORAL_TEST_SERVER_HOME/libs/*' io.temporal.testserver.TestServer "\$@"
LAUNCHER
  chmod 0755 "$launcher.tmp"
  mv "$launcher.tmp" "$launcher"
  touch "$TEMPORAL_TEST_SERVER_HOME/.complete"
}

mkdir -p "$STEPGATE_CACHE_DIR"
exec 9>"$STEPGATE_CACHE_DIR/.temporal-test-server.lock"
flock 9
install_test_server
echo "$launcher"
