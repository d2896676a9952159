#!/usr/bin/env bash
# Runs every test of Omkijken: the Rust workspace (unit, integration, end-to-end, simulation)
# and the mobile bindings from Python, Kotlin and the Swift header check.
# Usage: scripts/test.sh            (everything)
#        SKIP_BINDINGS=1 scripts/test.sh   (Rust only)
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p target

# The PostgreSQL storage tests need a database: start a throwaway cluster when PostgreSQL's
# server binaries are installed (nothing is installed here), stop it on exit. A URL already
# in OMKIJKEN_TEST_POSTGRES is used as it is. Without either, those tests say they were
# skipped (and fail under CI).
if [ -z "${OMKIJKEN_TEST_POSTGRES:-}" ]; then
  if scripts/postgres-test-cluster.sh available; then
    trap 'scripts/postgres-test-cluster.sh stop || true' EXIT
    OMKIJKEN_TEST_POSTGRES=$(scripts/postgres-test-cluster.sh start)
    export OMKIJKEN_TEST_POSTGRES
    ca="$(cat target/pg-test.location)/tls/ca.pem"
    if [ -f "$ca" ]; then
      export OMKIJKEN_TEST_POSTGRES_CA="$ca"
      echo "== PostgreSQL tests on a throwaway cluster (with TLS)"
    else
      echo "== PostgreSQL tests on a throwaway cluster (no openssl: its TLS tests are skipped)"
    fi
  else
    echo "== PostgreSQL not installed: its storage tests are skipped (set OMKIJKEN_TEST_POSTGRES to run them)"
  fi
else
  echo "== PostgreSQL tests on the database in OMKIJKEN_TEST_POSTGRES"
fi

echo "== cargo test --workspace"
cargo test --workspace 2>&1 | tee target/rust-tests.log

bindings=0
if [ "${SKIP_BINDINGS:-0}" != "1" ] && [ -x scripts/test-bindings.sh ]; then
  echo "== mobile bindings (Python, Kotlin, Swift header)"
  scripts/test-bindings.sh 2>&1 | tee target/bindings-tests.log
  bindings=$(grep -Eo '^bindings: [0-9]+ passed' target/bindings-tests.log | awk '{print $2}' | tail -1)
fi

console=0
if [ "${SKIP_BINDINGS:-0}" != "1" ]; then
  echo "== admin console in headless Chromium"
  scripts/test-console-browser.sh
  console=$(grep -Eo '^console-browser: [0-9]+ passed' target/console-browser.log | awk '{print $2}' | tail -1)
fi

client=0
if [ "${SKIP_BINDINGS:-0}" != "1" ]; then
  if command -v node >/dev/null && command -v npm >/dev/null; then
    echo "== protocol example client (Node, Automerge's JavaScript library, from the docs)"
    scripts/js-client.sh
    echo "== automerge-repo interop (the JavaScript automerge-repo against /v1/automerge-repo)"
    scripts/automerge-repo-interop.sh
    client=2
  else
    echo "== node/npm not installed: the protocol example client is skipped"
  fi
fi

passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' target/rust-tests.log | awk '{s+=$4} END {print s+0}')
echo "rust: ${passed} passed, bindings: ${bindings:-0} passed, console in Chromium: ${console:-0} passed, example client and automerge-repo interop: ${client} passed"
echo "all: $((passed + ${bindings:-0} + ${console:-0} + client)) passed, 0 failed"
