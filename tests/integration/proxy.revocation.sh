#!/usr/bin/env bash
# Revocation: the RVP withdraws the server's workload measurement. The
# client sidecar must close the open (idle, long-lived) connection to the
# server and refuse new ones within one poll interval:
#  1. rv-files: the file is rewritten and the sidecar gets SIGHUP;
#  2. the bundle sync client: `vmesh rvp publish` a new epoch served by
#     `vmesh rvp serve`; the sidecar polls every 2 s. With 200 more open
#     connections (D43): an epoch that only adds another workload's
#     reference values keeps every one of them without appraising again
#     (each connection's lookup journal replayed: same answers), and the
#     revoking epoch closes every one of them from the journal alone (no
#     full re-appraisal).
# Restoring the measurement admits the server again.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
HELPERS=$(cd "$(dirname "$0")/helpers" && pwd)
px_setup
px_config server
px_config client
px_rv_json server "$(printf 'some other workload' | sha256sum | cut -d' ' -f1)" > "$T/server-rv.revoked.json"
start_app
start_proxy server
start_proxy client

# An idle long-lived connection: connect and wait for EOF, report when.
hold() { # hold OUTFILE: prints "open" once the attested channel is up (request sent later never)
    python3 - "$OUT_PORT" "$1" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").write("open\n")
s.settimeout(60)
try:
    d = s.recv(100)
except Exception as e:
    d = b""
open(sys.argv[2], "a").write("eof %.3f %r\n" % (time.time(), d))
PY
    HOLD_PID=$!
}
wait_line() { local i; for ((i = 0; i < 100; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt" | grep -q 200 && ok "request before revocation" || fail "request before revocation"

# ---- 1. rv-files + SIGHUP
hold "$T/hold1"
wait_line "$T/hold1" open
sleep 0.5
n=$(curl -s "http://127.0.0.1:$CADMIN/peers" | python3 -c 'import json,sys; print(len([p for p in json.load(sys.stdin) if p["state"]=="proxy"]))')
[ "$n" = 1 ] && ok "the long-lived connection is attested and open" || fail "open connections: $n"
cp "$T/server-rv.revoked.json" "$T/server-rv.active.json"
t0=$(date +%s.%N)
kill -HUP "$CLIENT_PID"
wait_line "$T/hold1" eof && ok "client sidecar closed the open connection after the revoking reload" || fail "connection not closed"
t1=$(awk '/^eof/ {print $2}' "$T/hold1")
# the reload itself closed it (the metric below); the time is printed, not judged
echo "numbers: closed $(python3 -c "print(round(float('$t1')-float('$t0'), 2))") s after the SIGHUP"
wait $HOLD_PID
[ "$(metric "$CADMIN" vmesh_reappraisal_closed_total)" = 1 ] && ok "vmesh_reappraisal_closed_total = 1" || fail "reappraisal metric"
grep -q "re-appraisal: not-affirming" "$T/client.err" && ok "log line names the re-appraisal" || fail "no re-appraisal log line"
grep -q '"result":"reappraisal"' "$T/client-access.log" && ok "access log: result reappraisal" || fail "access log lacks reappraisal"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt")
[ "$code" = 000 ] && ok "new connection refused (no HTTP answer)" || fail "new connection got HTTP $code"
sleep 0.3
r=$(metric "$CADMIN" 'vmesh_attestation_failures_total{reason="not-affirming",by="local"}')
[ "$r" -ge 1 ] && ok "refusal counted as not-affirming" || fail "not-affirming = $r"
cp "$T/server-rv.json" "$T/server-rv.active.json"
kill -HUP "$CLIENT_PID"; sleep 0.5
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt" | grep -q 200 && ok "admitted again after restoring" || fail "not admitted after restore"
stop_proxy client

# ---- 2. the bundle sync client: a new epoch withdraws the measurement
"$VMESH" keygen --type ec-p256 -o rvp.key --pub rvp.pub >/dev/null
mkdir -p "$T/rvin" "$T/rvweb"
cp "$T/server-rv.json" "$T/rvin/rv.json"
"$VMESH" rvp publish --key rvp.key --in "$T/rvin" --out "$T/rvweb" --name acme >/dev/null || fail "publish epoch 1"
RVP_PORT=$(free_port)
"$VMESH" rvp serve --root "$T/rvweb" --listen "127.0.0.1:$RVP_PORT" >"$T/rvp.out" 2>"$T/rvp.err" &
px_pids+=($!)
wait_port "$RVP_PORT" || fail "rvp serve did not start"
python3 - "$T/client.yaml" "$RVP_PORT" "$T" <<'PY'
import sys
p, port, t = sys.argv[1:]
s = open(p).read()
s = s.replace("  rv-files: [ %s/server-rv.active.json ]\n" % t,
  "  rvps: [ { name: acme, url: \"http://127.0.0.1:%s\", key: %s/rvp.pub, schemes: [ psa ] } ]\n"
  "  poll-interval: 2s\n  state-dir: %s/client-state\n" % (port, t, t))
open(p, "w").write(s)
PY
grep -q "rvps:" "$T/client.yaml" || fail "config rewrite"
start_proxy client
[ "$(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')" = 1 ] && ok "synced epoch 1" || fail "rv_epoch: $(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt" | grep -q 200 && ok "request with synced RVs" || fail "request with synced RVs"
hold "$T/hold2"
wait_line "$T/hold2" open
MANY=200
python3 "$HELPERS/hold_many.py" "$OUT_PORT" "$MANY" "$T/many.json" "$T/stop-many" &
px_pids+=($!)
many() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/many.json" "$1" 2>/dev/null || echo -1; }
for ((i = 0; i < 300; i++)); do [ "$(many open)" = "$MANY" ] && break; sleep 0.1; done
npeers() { curl -s "http://127.0.0.1:$CADMIN/peers" | python3 -c 'import json,sys; print(len([p for p in json.load(sys.stdin) if p["state"]=="proxy"]))'; }
for ((i = 0; i < 300; i++)); do peers=$(npeers); [ "$peers" -ge "$MANY" ] && break; sleep 0.1; done
[ "$(many eof)" = 0 ] && [ "$peers" -ge "$MANY" ] && ok "$MANY more attested connections open ($peers peers)" \
    || fail "$MANY connections: $(cat "$T/many.json"), peers $peers"
full0=$(metric "$CADMIN" vmesh_reappraisal_full_total)
re0=$(metric "$CADMIN" vmesh_reappraisals_total)
# another workload's reference values join the bundle: epoch 2
px_rv_json client "$(sha256sum "$T/client-workload" | cut -d' ' -f1)" > "$T/rvin/other.json"
"$VMESH" rvp publish --key rvp.key --in "$T/rvin" --out "$T/rvweb" >/dev/null || fail "publish epoch 2 (unrelated)"
for ((i = 0; i < 100; i++)); do [ "$(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')" = 2 ] && break; sleep 0.1; done
for ((i = 0; i < 50; i++)); do [ "$(metric "$CADMIN" vmesh_reappraisals_total)" -ge $((re0 + MANY)) ] && break; sleep 0.1; done
sleep 0.5
re1=$(metric "$CADMIN" vmesh_reappraisals_total)
same=$(metric "$CADMIN" 'vmesh_rv_journal_replays_total{result="same"}')
full1=$(metric "$CADMIN" vmesh_reappraisal_full_total)
[ "$(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')" = 2 ] && [ "$re1" -ge $((re0 + MANY)) ] \
    && ok "unrelated epoch 2 synced, $((re1 - re0)) connections re-appraised" || fail "epoch 2: re-appraisals $re0 -> $re1"
[ "$(many eof)" = 0 ] && ! grep -q '^eof' "$T/hold2" && ok "unrelated epoch: every connection kept" \
    || fail "unrelated epoch closed connections: $(cat "$T/many.json")"
[ "$same" -ge 1 ] && [ "$full1" = "$full0" ] && ok "kept by journal replay ($same replays said same), no full re-appraisal" \
    || fail "unrelated epoch: journal same $same, full re-appraisals $full0 -> $full1"
cp "$T/server-rv.revoked.json" "$T/rvin/rv.json"
t0=$(date +%s.%N)
"$VMESH" rvp publish --key rvp.key --in "$T/rvin" --out "$T/rvweb" >/dev/null || fail "publish epoch 3"
p0=$(metric "$CADMIN" 'vmesh_rvp_polls_total{rvp="acme"}')
wait_line "$T/hold2" eof && ok "new epoch closed the open connection" || fail "connection not closed by the new epoch"
p1=$(metric "$CADMIN" 'vmesh_rvp_polls_total{rvp="acme"}')
t1=$(awk '/^eof/ {print $2}' "$T/hold2")
el=$(python3 -c "print(round(float('$t1') - float('$t0'), 2))")
# Within one poll interval, judged by polls, not seconds: the poll in flight
# when the publication was complete may have read the old manifest; the next
# one must bring the new epoch and the close.
[ -n "$p0" ] && [ -n "$p1" ] && [ $((p1 - p0)) -le 2 ] && ok "closed by the first poll after the publication ($((p1 - p0)) poll(s) completed in between)" \
    || fail "closed only after $((p1 - p0)) polls since the publication"
echo "numbers: closed $el s after the publication started (poll-interval 2 s)"
wait $HOLD_PID
for ((i = 0; i < 100; i++)); do [ "$(many eof)" = "$MANY" ] && break; sleep 0.1; done
[ "$(many eof)" = "$MANY" ] && ok "the revoking epoch closed all $MANY other connections" || fail "still open: $(cat "$T/many.json")"
changed=$(metric "$CADMIN" 'vmesh_rv_journal_replays_total{result="changed"}')
full2=$(metric "$CADMIN" vmesh_reappraisal_full_total)
[ "$changed" -ge "$MANY" ] && [ "$full2" = "$full0" ] \
    && ok "closed by journal replay ($changed changed answers), no full re-appraisal" \
    || fail "revoking epoch: journal changed $changed, full re-appraisals $full0 -> $full2"
echo "numbers: $MANY connections closed $(python3 -c "import json; d=json.load(open('$T/many.json')); print(round(d['last_eof'] - float('$t0'), 2))") s after the publication started"
grep -q "re-appraisal: not-affirming: reference values changed: reference value for component workload" "$T/client.err" \
    && ok "the close names the changed answer" || fail "no close reason naming the journal's answer"
[ "$(metric "$CADMIN" 'vmesh_rv_epoch{rvp="acme"}')" = 3 ] && ok "synced epoch 3" || fail "epoch 3 not synced"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt")
[ "$code" = 000 ] && ok "new connection refused after the new epoch" || fail "new connection got HTTP $code"
stop_proxy client
stop_proxy server
finish
