#!/usr/bin/env bash
# The protocol example client (examples/js-client, Node with Automerge's JavaScript library,
# written from the docs alone) against the real server: a teacher's device enrolls and
# pushes a signal in Dutch, a forged follow-up is refused, and the care coordinator's device
# catches up, reads the signal word for word and logs the read, which the audit log shows.
#
# Usage: scripts/js-client.sh   (needs node and npm; builds the server if needed)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

cargo build -q -p omkijken-server
bin=$root/target/debug/omkijken-server
(cd examples/js-client && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

tmp=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
data=$tmp/data
admin() { "$bin" admin --data "$data" "$@"; }
fail() { echo "js-client: FAILED: $*" >&2; exit 1; }

admin create-school --id s1 --name "Basisschool De Linde" >/dev/null
cat > "$tmp/roster.csv" <<'CSV'
type,id,name,group,age_band,in_care,roles,mentors,teaches
group,g6,Groep 6,,,,,,
staff,t1,Juf Öztürk,,,,teacher,,g6
staff,m1,Meester Jansen,,,,mentor;teacher,,g6
staff,z1,Anneke Bakker,,,,care_coordinator,,
pupil,p1,Zoë de Vries,g6,po_5_8,false,,m1,
CSV
admin import-roster --school s1 "$tmp/roster.csv" >/dev/null
teacher_code=$(admin enroll --school s1 --user t1 | tr -d '[:space:]')
coordinator_code=$(admin enroll --school s1 --user z1 | tr -d '[:space:]')

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data "$data" --listen "127.0.0.1:$port" 2>"$tmp/serve.log" &
server=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
url=ws://127.0.0.1:$port
client() { node examples/js-client/client.mjs "$@"; }

facts='Zoë huilde in de pauze; ze zei "niemand wil met mij spelen". Zorgcoördinator ingelicht 😢'
client enroll "$url" "$teacher_code" "$tmp/t1.json" >/dev/null
pushed=$(client push-signal "$url" "$tmp/t1.json" p1 "$facts")
echo "teacher's push: $pushed"
id=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d.get("ack"), d; print(d["documentId"])' "$pushed") \
  || fail "the signal was not acknowledged"

forged=$(client forge-follow-up "$url" "$tmp/t1.json" p1 z1)
echo "forged follow-up: $forged"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d.get("refused")=="forbidden", d' "$forged" \
  || fail "a follow-up in the coordinator's name was not refused"

client enroll "$url" "$coordinator_code" "$tmp/z1.json" >/dev/null
caught=$(client catch-up "$url" "$tmp/z1.json")
echo "coordinator's catch-up: $caught"
python3 - "$caught" "$id" "$facts" <<'PY' || fail "the coordinator did not read the signal word for word"
import json, sys
d, id, facts = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
[s] = [s for s in d["signals"] if s["documentId"] == id]
assert s["facts"] == facts, s
assert s["author"] == "t1", s
assert len(d["signals"]) == 1, "the refused signal reached nobody"
assert d["logAck"] == 1, d
PY
admin audit --staff z1 --format json | python3 -c '
import json, sys
id = sys.argv[1]
rows = [json.loads(l) for l in sys.stdin if l.strip()]
rows = rows if rows and isinstance(rows[0], dict) else rows[0]
assert any(r.get("action") == "read" and r.get("document") == id for r in rows), rows
' "$id" || fail "the read is not in the audit log"
echo "js-client: enrolled, pushed, refused a forgery, caught up, read and logged: ok"
