#!/usr/bin/env bash
# Issue 13.4 at the proxy: anonymous fresh-first ClientHellos with 0xff4d
# (tests/integration/helpers/fresh_hello_flood.py: hand-built, no
# certificate ever follows) at an inbound listener with fresh-hello-rate
# 0.05 (one token every 20 s) and fresh-hello-burst 30.
# - /metrics shows vmesh_fresh_hello_deferred_total per inbound listener;
#   it moves under the flood (every hello is either attested — one
#   vmesh_evidence_generated_total — or deferred, and deferred ones cost no
#   evidence), the untouched listener stays at 0, `promtool check metrics`
#   passes.
# - A reload (SIGHUP) with the listener unchanged does not refill the
#   budget: a second flood right after it gets at most what one token per
#   20 s refilled since the first flood began (measured), not the burst.
# - A reload that changes the limit starts a full bucket of the new burst,
#   and the deferral count goes on (the counter never goes back).
# - A legitimate client (the client sidecar, epoch-fresh) is served
#   throughout.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
FLOOD=$(cd "$(dirname "$0")" && pwd)/helpers/fresh_hello_flood.py
command -v promtool >/dev/null || { echo "SKIP: promtool missing (Debian package prometheus)"; exit 77; }
px_setup
QUIET_PORT=$(free_port)
px_config server
python3 - "$T/server.yaml" "$QUIET_PORT" "$APP_PORT" <<'PY'
import sys
p, qport, app = sys.argv[1:]
s = open(p).read()
s = s.replace("  - name: web\n", "  - name: web\n    fresh-hello-rate: 0.05\n    fresh-hello-burst: 30\n", 1)
s += "  - name: quiet\n    listen: 127.0.0.1:%s\n    app: 127.0.0.1:%s\n" % (qport, app)
open(p, "w").write(s)
PY
px_config client
start_app
start_proxy server
start_proxy client

deferred() { metric "$SADMIN" "vmesh_fresh_hello_deferred_total{listener=\"$1\"}"; }
generated() { metric "$SADMIN" 'vmesh_evidence_generated_total'; }
reloads() { metric "$SADMIN" 'vmesh_reloads_total{result="ok"}'; }
request() { # a legitimate request through the client sidecar
    [ "$(curl -s -o "$T/r.out" -w '%{http_code}' --max-time 60 "http://127.0.0.1:$OUT_PORT/s$1.txt")" = 200 ] &&
        cmp -s "$T/r.out" "$T/www/s$1.txt" && ok "legitimate request $1 served ($2)" || fail "legitimate request $1 ($2)"
}
# flood N: N anonymous hellos; sets G (evidence generated) and D (deferred)
# for the web listener, once the proxy has judged every hello (bounded wait)
flood() {
    local g0 d0 i
    g0=$(generated); d0=$(deferred web)
    python3 "$FLOOD" "$IN_PORT" "$1" 8 > "$T/flood.out" || fail "flood client failed"
    for ((i = 0; i < 600; i++)); do
        G=$(( $(generated) - g0 )); D=$(( $(deferred web) - d0 ))
        [ $((G + D)) -ge "$1" ] && break
        sleep 0.1
    done
    echo "  flood of $1: $(cat "$T/flood.out"), evidence generated $G, deferred $D"
}
request 1 "before the flood"
[ "$(deferred web)" = 0 ] && [ "$(deferred quiet)" = 0 ] && ok "deferral counters exposed per listener, at 0" ||
    { fail "deferral counters before the flood: web $(deferred web) quiet $(deferred quiet)"; curl -s "http://127.0.0.1:$SADMIN/metrics" | grep fresh_hello; }

# 1. the flood: the counter moves, each hello attested or deferred
t0=$(date +%s.%N)
flood 60
[ $((G + D)) = 60 ] && ok "each of 60 anonymous fresh hellos was attested or deferred ($G + $D)" || fail "attested $G + deferred $D != 60"
[ "$D" -ge 1 ] && ok "vmesh_fresh_hello_deferred_total{listener=\"web\"} moved under the flood (+$D)" || fail "deferral counter did not move ($D)"
[ "$G" -ge 30 ] && ok "the burst of 30 was served with fresh evidence ($G)" || fail "only $G fresh evidences for a burst of 30"
[ "$(deferred quiet)" = 0 ] && ok "the other listener's counter stays 0" || fail "quiet listener: $(deferred quiet)"
curl -s "http://127.0.0.1:$SADMIN/metrics" > "$T/server.metrics"
if promtool check metrics < "$T/server.metrics" > "$T/promtool.out" 2>&1; then ok "promtool check metrics: /metrics after the flood"
else fail "promtool check metrics"; cat "$T/promtool.out"; fi
grep -q '^# TYPE vmesh_fresh_hello_deferred_total counter$' "$T/server.metrics" && ok "declared a counter" || fail "no TYPE line"
request 2 "after the flood"

# 2. reload, limit unchanged: the budget is not refilled
r0=$(reloads); dtot=$(deferred web); gtot=$(generated)
sed -i 's/^log-level: .*//' "$T/server.yaml"; echo "log-level: info" >> "$T/server.yaml"  # a change elsewhere
kill -HUP "$SERVER_PID"
for i in $(seq 1 300); do [ "$(reloads)" -gt "$r0" ] && break; sleep 0.1; done
[ "$(reloads)" -gt "$r0" ] && ok "reload applied" || fail "reload not applied"
[ "$(deferred web)" -ge "$dtot" ] && ok "deferral count kept across the reload ($(deferred web))" || fail "deferral count went back: $dtot -> $(deferred web)"
[ "$(generated)" -ge "$gtot" ] && ok "vmesh_evidence_generated_total kept across the reload ($gtot -> $(generated))" || fail "evidence counter went back: $gtot -> $(generated)"
flood 60
t1=$(date +%s.%N)
limit=$(python3 -c "import math; print(math.ceil(($t1 - $t0) * 0.05) + 1)")  # tokens refilled since the first flood began, one per 20 s
echo "  seconds from the first flood's start to the second's end: $(python3 -c "print(round($t1 - $t0, 1))")"
if [ "$limit" -ge 30 ]; then
    fail "the machine was too slow: $limit tokens refilled, a refill cannot be told from a reset (burst 30)"
else
    [ "$G" -le "$limit" ] && ok "after the reload the budget was not refilled: $G fresh evidences <= $limit (not the burst of 30)" ||
        fail "after the reload $G fresh evidences (> $limit refilled at 0.05/s): the bucket restarted"
fi
[ $((G + D)) = 60 ] && ok "second flood: each hello attested or deferred ($G + $D)" || fail "second flood: $G + $D != 60"
request 3 "after the reload"

# 3. reload with a new limit: a full bucket of the new burst, the count goes on
r0=$(reloads); dtot=$(deferred web)
sed -i 's/fresh-hello-burst: 30/fresh-hello-burst: 10/' "$T/server.yaml"
kill -HUP "$SERVER_PID"
for i in $(seq 1 300); do [ "$(reloads)" -gt "$r0" ] && break; sleep 0.1; done
[ "$(reloads)" -gt "$r0" ] && ok "reload with fresh-hello-burst 10 applied" || fail "second reload not applied"
grep -q 'fresh-hello limit changed' "$T/server.err" && ok "the changed limit is logged" || fail "no log line for the changed limit"
[ "$(deferred web)" -ge "$dtot" ] && ok "deferral count kept across a changed limit ($dtot -> $(deferred web))" || fail "deferral count went back: $dtot -> $(deferred web)"
flood 30
[ "$G" -ge 10 ] && ok "a changed limit starts full: $G fresh evidences >= the new burst 10" || fail "changed limit: only $G fresh evidences"
[ $((G + D)) = 30 ] && ok "third flood: each hello attested or deferred ($G + $D)" || fail "third flood: $G + $D != 30"
request 4 "at the end"
stop_proxy client
stop_proxy server
finish
