#!/usr/bin/env bash
# How many `contacts serve` processes one PostgreSQL serves (docs/scaling.md): loads
# PEOPLE contacts into a fresh schema, then for 1, 2 and 4 server processes on that one
# database runs one bounded wrk per process (loopback only) of resolve hits, and prints
# the total requests per second and each run's latency. Drops the schema at the end.
#
#   benches/scaling/run.sh postgres://postgres@127.0.0.1:5432/test
set -euo pipefail
URL=${1:?a PostgreSQL URL}
PEOPLE=${PEOPLE:-20000}
SECONDS_EACH=${SECONDS_EACH:-10}
CONNECTIONS=${CONNECTIONS:-16}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$HERE/../../target/release/contacts}
SCHEMA=contacts_scaling_$$
ORG=11111111-2222-3333-4444-555555555555
WORK=$(mktemp -d)
cleanup() {
    pkill -P $$ -f "contacts serve" 2>/dev/null || true
    psql "$URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export CONTACTS_POSTGRES_URL=$URL CONTACTS_POSTGRES_SCHEMA=$SCHEMA
unset CONTACTS_DB
python3 - "$PEOPLE" > "$WORK/people.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("phone_number,email,name")
for i in range(n):
    print(f"+1415{i:07d},person{i}@example.com,Person {i}")
PY
"$BIN" import "$WORK/people.csv" --org "$ORG" > /dev/null
KEY=$("$BIN" keys create --org "$ORG" | sed -n 's/^key: //p')
export CONTACTS_KEY=$KEY CONTACTS_PEOPLE=$PEOPLE
for n in 1 2 4; do
    pids=()
    for i in $(seq 1 "$n"); do
        "$BIN" serve --listen "127.0.0.1:$((18080 + i))" > "$WORK/serve$i.log" 2>&1 &
        pids+=($!)
    done
    for i in $(seq 1 "$n"); do
        until curl -sf "http://127.0.0.1:$((18080 + i))/healthz" > /dev/null; do sleep 0.1; done
    done
    for i in $(seq 1 "$n"); do
        wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$HERE/resolve.lua" \
            "http://127.0.0.1:$((18080 + i))" > "$WORK/wrk$n-$i.txt" &
    done
    wait $(jobs -p | grep -v -E "$(IFS='|'; echo "${pids[*]}")") 2>/dev/null || true
    total=$(cat "$WORK"/wrk$n-*.txt | awk '/Requests\/sec/ {s += $2} END {printf "%.0f", s}')
    p99=$(cat "$WORK"/wrk$n-*.txt | awk '/ 99%/ {print $2}' | paste -sd' ')
    errors=$(cat "$WORK"/wrk$n-*.txt | awk '/Non-2xx|Socket errors/' | paste -sd' ')
    echo "servers=$n total_req_per_s=$total p99_per_server=[$p99] ${errors:-no errors}"
    kill "${pids[@]}"
    wait "${pids[@]}" 2>/dev/null || true
done
