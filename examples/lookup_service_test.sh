#!/usr/bin/env bash
# Starts the lookup service, sends queries and updates over its line protocol, checks the answers,
# and shuts it down; the server must exit cleanly (under ASan: no leak, every callback run).
set -uo pipefail
server="$1"
dir="${TEST_TMPDIR:-$(mktemp -d)}"
"$server" --serve --keys=1000 --updates_per_second=0 --port_file="$dir/port" >"$dir/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do [[ -s "$dir/port" ]] && break; sleep 0.05; done
port="$(cat "$dir/port")"

exec 3<>"/dev/tcp/127.0.0.1/$port"
failures=0
passes=0
expect() {  # request, expected answer
  printf '%s\n' "$1" >&3
  local answer
  IFS= read -r -t 10 answer <&3
  if [[ "$answer" == "$2" ]]; then
    passes=$((passes + 1))
  else
    echo "FAIL: '$1' answered '$answer', expected '$2'"
    failures=$((failures + 1))
  fi
}
expect "GET 7" "VALUE 70"
expect "GET 5000" "MISSING"
expect "SET 5000 42" "OK"
expect "GET 5000" "VALUE 42"
expect "SET 7 8" "OK"
expect "GET 7" "VALUE 8"
expect "DEL 7" "OK"
expect "GET 7" "MISSING"
expect "DEL 7" "MISSING"
expect "BOGUS" "ERROR unknown request"
# Pipelined requests are answered in order.
printf 'GET 1\nGET 2\nGET 3\n' >&3
for want in "VALUE 10" "VALUE 20" "VALUE 30"; do
  IFS= read -r -t 10 got <&3
  if [[ "$got" == "$want" ]]; then passes=$((passes + 1)); else echo "FAIL: pipelined got '$got', want '$want'"; failures=$((failures + 1)); fi
done
printf 'STATS\n' >&3
IFS= read -r -t 10 stats <&3
if [[ "$stats" == "STATS size=1000 "* ]]; then passes=$((passes + 1)); else echo "FAIL: STATS: '$stats'"; failures=$((failures + 1)); fi
expect "SHUTDOWN" "BYE"
exec 3>&-

if wait "$pid"; then
  passes=$((passes + 1))
else
  echo "FAIL: the server exited with status $?"
  cat "$dir/server.log"
  failures=$((failures + 1))
fi
grep -q "stopped cleanly" "$dir/server.log" || { echo "FAIL: no clean stop"; failures=$((failures + 1)); }
echo "$passes passed, $failures failed"
exit $((failures > 0))
