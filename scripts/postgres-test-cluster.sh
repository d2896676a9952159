#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the server's PostgreSQL tests.
#
# Usage: scripts/postgres-test-cluster.sh start      # prints the URL on stdout
#        scripts/postgres-test-cluster.sh stop       # stops it and deletes its files
#        scripts/postgres-test-cluster.sh available  # exit 0 if PostgreSQL's binaries are found
#
# It uses the installed server binaries (Debian: /usr/lib/postgresql/*/bin; else initdb and
# pg_ctl on PATH, or PG_BIN=DIR) and installs nothing. The cluster lives in target/pg-test
# (PG_TEST_DIR=DIR to change), trusts every local connection, listens on 127.0.0.1 only on
# a free port, and keeps its Unix socket inside its own folder. It is for tests: never put
# data in it. As root, the cluster runs as the `postgres` user (initdb refuses root).
# The tests read the URL from OMKIJKEN_TEST_POSTGRES; scripts/test.sh sets it. With the
# openssl CLI the cluster also speaks TLS, with a throwaway authority in tls/ca.pem of the
# cluster folder (scripts/test.sh passes it as OMKIJKEN_TEST_POSTGRES_CA).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${PG_TEST_DIR:-$PWD/target/pg-test}"
# Where the cluster's folder is written down (it may move to /tmp, see below); one per
# PG_TEST_DIR, so that two clusters (the tests', the PostgreSQL simulation's) do not stop
# each other.
pointer="$PWD/target/pg-test.location"
[ -n "${PG_TEST_DIR:-}" ] && pointer="$dir.location"

say() { echo "postgres-test-cluster: $*" >&2; }

find_bin() {
  if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ]; then
    echo "$PG_BIN"
    return 0
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$newest" ] && [ -x "$newest/initdb" ] && [ -x "$newest/pg_ctl" ]; then
    echo "$newest"
    return 0
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  return 1
}

# Run a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

stop_cluster() {
  local d="$1" bin
  [ -d "$d" ] || return 0
  if [ -f "$d/data/postmaster.pid" ] && bin=$(find_bin); then
    as_owner "$bin/pg_ctl" -D "$d/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$d"
}

cmd="${1:-}"
case "$cmd" in
  available)
    find_bin >/dev/null
    ;;
  start)
    bin=$(find_bin) || {
      say "PostgreSQL server binaries not found (install the postgresql package, or set PG_BIN)"
      exit 2
    }
    # A cluster left over from an interrupted run: stop and remove it.
    [ -f "$pointer" ] && stop_cluster "$(cat "$pointer")"
    stop_cluster "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || {
        say "running as root, but there is no postgres user to run the cluster as"
        exit 2
      }
      chown postgres: "$dir"
      if ! runuser -u postgres -- test -w "$dir" 2>/dev/null; then
        # A parent folder the postgres user cannot enter: use a private temporary folder.
        rm -rf "$dir"
        dir=$(mktemp -d /tmp/omkijken-pg-test.XXXXXX)
        chown postgres: "$dir"
      fi
    fi
    mkdir -p "$(dirname "$pointer")"
    echo "$dir" >"$pointer"
    as_owner "$bin/initdb" -D "$dir/data" --auth=trust --username=postgres --encoding=UTF8 \
      --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      say "initdb failed"
      exit 1
    }
    # TLS for the tests of the server's database TLS: a throwaway authority and a server
    # certificate for 127.0.0.1 and localhost (openssl CLI; without it, no TLS). Plain
    # connections keep working.
    sslopts=""
    if command -v openssl >/dev/null 2>&1; then
      tls="$dir/tls"
      mkdir -p "$tls"
      ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
      if openssl req -x509 "${ec[@]}" -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 2 \
          -subj "/CN=omkijken test authority" >/dev/null 2>&1 &&
        openssl req "${ec[@]}" -keyout "$tls/server.key" -out "$tls/server.csr" \
          -subj "/CN=localhost" >/dev/null 2>&1 &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$tls/ext" &&
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
          -CAcreateserial -out "$tls/server.crt" -days 2 -extfile "$tls/ext" >/dev/null 2>&1; then
        chmod 600 "$tls/server.key" "$tls/ca.key"
        [ "$(id -u)" = 0 ] && chown -R postgres: "$tls"
        chmod 644 "$tls/ca.pem"
        sslopts="-c ssl=on -c ssl_cert_file='$tls/server.crt' -c ssl_key_file='$tls/server.key'"
      else
        say "openssl could not make test certificates: the cluster runs without TLS"
        rm -rf "$tls"
      fi
    fi
    # Unix socket inside the cluster folder (none if that path is too long for a socket).
    sockdir="$dir"
    [ ${#sockdir} -gt 90 ] && sockdir=""
    started=0
    for _ in 1 2 3 4 5; do
      port=$(free_port) || break
      if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$sockdir' -c max_connections=300 $sslopts" \
        start >/dev/null 2>&1; then
        started=1
        break
      fi
    done
    if [ "$started" != 1 ]; then
      tail -20 "$dir/server.log" >&2 || true
      say "the cluster did not start"
      exit 1
    fi
    url="postgres://postgres@127.0.0.1:$port/postgres"
    echo "$url" >"$dir/url"
    say "running on 127.0.0.1:$port (data in $dir)"
    echo "$url"
    ;;
  stop)
    if [ -f "$pointer" ]; then
      stop_cluster "$(cat "$pointer")"
      rm -f "$pointer"
    fi
    stop_cluster "$dir"
    say "stopped"
    ;;
  *)
    echo "usage: $0 start|stop|available" >&2
    exit 2
    ;;
esac
