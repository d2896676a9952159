#!/usr/bin/env bash
# The deterministic simulation as a gate: N seeds from START, in parallel on all cores, in a
# release build. START defaults to a random seed, printed first, so that any run replays.
# With N > 1 the regression seeds (tests/tests/simulation.rs) run too.
#
# Usage: scripts/sim.sh [--debug] [--postgres] [N] [START]
#   scripts/sim.sh                  300 seeds from a random start
#   scripts/sim.sh 10000            10,000 seeds from a random start
#   scripts/sim.sh 1 431136197      replay one seed (a failure prints this command)
#   OMKIJKEN_SIM_TRACE=<first letters of a document id> scripts/sim.sh 1 <seed>
#                                   the frames and decisions for that document, in order
#   scripts/sim.sh --debug 300      in the debug build (CI: it is built already, and a
#                                   seed costs only ~1.5x the release time there, far less
#                                   than a release build of the workspace)
#   scripts/sim.sh --postgres 100   the server's data in PostgreSQL (a fresh schema a seed):
#                                   in the database of OMKIJKEN_SIM_POSTGRES if set, else on
#                                   a throwaway cluster of its own (scripts/postgres-test-
#                                   cluster.sh), stopped at the end. A failed seed replays
#                                   with --postgres too.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=(--release)
postgres=0
while [ "${1:-}" = "--debug" ] || [ "${1:-}" = "--postgres" ]; do
  case "$1" in
    --debug) profile=() ;;
    --postgres) postgres=1 ;;
  esac
  shift
done
n=${1:-300}
if [ -n "${2:-}" ]; then
  start=$2
else
  # A 31-bit start nobody is likely to have run.
  start=$(( $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % 2147483647 + 1 ))
fi
case "$n$start" in
  *[!0-9]*) echo "usage: scripts/sim.sh [N] [START] (both numbers)" >&2; exit 2 ;;
esac

regressions=0
[ "$n" -gt 1 ] && regressions=1
mode=${profile[0]:---debug}
mode=${mode#--}
where=""
flag=""
if [ "$postgres" = 1 ]; then
  where=", the server on PostgreSQL"
  flag="--postgres "
  if [ -z "${OMKIJKEN_SIM_POSTGRES:-}" ]; then
    export PG_TEST_DIR="$PWD/target/pg-sim"
    trap 'PG_TEST_DIR="$PWD/target/pg-sim" scripts/postgres-test-cluster.sh stop >/dev/null 2>&1 || true' EXIT
    OMKIJKEN_SIM_POSTGRES=$(scripts/postgres-test-cluster.sh start)
  fi
  export OMKIJKEN_SIM_POSTGRES
else
  unset OMKIJKEN_SIM_POSTGRES
fi
echo "== simulation ($mode build$where): $n seeds from $start (replay this run: scripts/sim.sh $flag$n $start)"
set +e
OMKIJKEN_SIM_SEED=$start OMKIJKEN_SIM_SEEDS=$n OMKIJKEN_SIM_REGRESSIONS=$regressions \
  cargo test "${profile[@]}" -p omkijken-tests --test simulation -- --nocapture
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "== simulation FAILED: $n seeds from $start; each failed seed above says how to replay it"
  echo "   (the whole run: scripts/sim.sh $flag$n $start)"
fi
exit $rc
