#!/usr/bin/env bash
# The PoP's central-verifier client (issue 12.5): verifier.central.url and
# replicas, two `vmesh verifier serve` with the same EAR key.
# - keep-alive: appraisals of new peers reuse the client's connection to
#   the verifier (the set of connections does not grow with the handshakes);
# - failover: a replica that stops answering (SIGSTOP) or is gone (killed)
#   costs new peers at most its share of the handshake timeout, then the
#   other replica answers and the next handshakes go there first;
# - a replica that answers with an EAR the PoP does not trust is not papered
#   over by the other one: the peer is refused;
# - both gone: new peers fail closed, an established connection keeps
#   echoing.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v ss >/dev/null || { echo "SKIP: ss (iproute2) missing"; exit 77; }
px_setup
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o other-ear.pem --pub other-ear.pub >/dev/null || { echo "keygen failed"; exit 1; }

# start_v NAME KEY: a verifier replica; sets VPORT_NAME, VPID_NAME. Its
# request deadline (time from the previous answer to the next request,
# default 10 s) is 60 s: under contention the gap between two appraisals
# passed 10 s and the verifier closed the idle connection, which is the
# deadline working, not the keep-alive this test looks at.
start_v() {
    "$VMESH" verifier serve --key "$2" --listen 127.0.0.1:0 --id "$1" --rv "$T/client-rv.json" --request-deadline 60s \
        >"$T/$1.out" 2>"$T/$1.log" &
    local pid=$! port=""
    px_pids+=("$pid")
    for _ in $(seq 1 300); do
        port=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$T/$1.log")
        [ -n "$port" ] && break; sleep 0.1
    done
    [ -n "$port" ] || { echo "verifier $1 did not start"; cat "$T/$1.log"; exit 1; }
    eval "VPORT_$1=$port VPID_$1=$pid"
}
start_v V1 ear.pem
start_v V2 ear.pem

px_config server
sed -i "s|^verifier:|verifier:\n  central: { url: \"http://127.0.0.1:$VPORT_V1\", replicas: [ \"http://127.0.0.1:$VPORT_V2\" ], key: $T/ear.pub, cache: 1s, insecure-plain-http: true }|" "$T/server.yaml"
# a silent replica takes half of it (3 s), the other has the rest; the
# client waits for the PoP's verdict longer than that
sed -i 's/^  handshake-timeout: 5s/  handshake-timeout: 6s/' "$T/server.yaml"
px_config client
sed -i 's/^  handshake-timeout: 5s/  handshake-timeout: 20s/' "$T/client.yaml"
start_echo_app
start_proxy server
start_proxy client

# reload_server: SIGHUP to the PoP, wait until the new generation is in use.
# The PoP is reloaded, never restarted: a restart would have to bind its
# admin port again, which another test running in parallel may have taken
# meanwhile (the verifier settings are re-read by a reload, PROXY.md).
reload_server() {
    local n0; n0=$(metric "$SADMIN" 'vmesh_reloads_total{result="ok"}')
    kill -HUP "$SERVER_PID"
    for _ in $(seq 1 300); do
        [ "$(metric "$SADMIN" 'vmesh_reloads_total{result="ok"}')" -gt "$n0" ] && return 0
        sleep 0.1
    done
    fail "the PoP did not reload: $(grep -i reload "$T/server.err" | tail -2)"; finish
}

# conns PORT: local ports of the PoP's established connections to PORT
conns() {
    ss -Htnp state established "( dport = :$1 )" 2>/dev/null | grep "pid=$SERVER_PID," \
        | awk '{print $3}' | sort -u | tr '\n' ' '
}

# 1. keep-alive: four new peers, each after the AR cache entry (1 s) expired
first="" seen=""
for i in 1 2 3 4; do
    r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
    [ "$r" = ok ] || fail "peer $i with both replicas up: $r"
    c=$(conns "$VPORT_V1")
    [ -z "$first" ] && first=$c
    seen="$seen $c"
    sleep 1.5
done
distinct=$(echo "$seen" | tr ' ' '\n' | grep . | sort -u | wc -l)
echo "  connections to V1 after peer 1: [$first], distinct over 4 peers: $distinct"
[ -n "$first" ] && ok "the connection to the verifier stays open between appraisals" \
    || fail "no established connection to V1 after an appraisal (no keep-alive)"
[ "$distinct" -le 1 ] && ok "4 appraisals over one connection" \
    || fail "$distinct connections for 4 appraisals: [$seen]; V1: $(curl -s "http://127.0.0.1:$VPORT_V1/metrics" | grep 'refused_total{reason="deadline"}')"
nb=$(metric "$SADMIN" "vmesh_central_verifier_batched_total{url=\"http://127.0.0.1:$VPORT_V1\"}")
[ "${nb:-0}" -ge 4 ] && ok "the appraisals went in batches (D53): vmesh_central_verifier_batched_total $nb" \
    || fail "vmesh_central_verifier_batched_total: $nb"
grep -qE "central verifier .* (failed, trying|sending them one by one)" "$T/server.err" && fail "failover while both replicas were up" \
    || ok "no failover while both replicas are up"

# 2. V1 stops answering (its kernel still accepts): the next new peer is
#    appraised by V2 after V1's share of the timeout, the one after that
#    goes to V2 first.
kill -STOP "$VPID_V1"
t0=$(date +%s%N)
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
el=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "  first new peer with V1 silent: $r after $el ms"
[ "$r" = ok ] && ok "V1 silent: V2 appraises the new peer" || fail "V1 silent: $r"
# The failover is logged by the one-request path ("failed, trying V2") or,
# for appraisals sent as a batch (D53, the default), by the batch ("sending
# them one by one from the next replica", which then starts at V2).
FO='failed, trying|sending them one by one from the next replica'
for _ in $(seq 1 100); do grep -qE "$FO" "$T/server.err" && break; sleep 0.1; done
grep -qE "central verifier http://127.0.0.1:$VPORT_V1( failed, trying http://127.0.0.1:$VPORT_V2|: a batch of [0-9]+ failed, sending them one by one from the next replica): .*(newSession|/vmesh/v1/appraise|/.well-known/veraison/verification)" "$T/server.err" \
    && ok "the failover is logged with the silent replica and the failed request" \
    || fail "no failover line: $(grep -m2 'central verifier' "$T/server.err")"
sleep 1.5
n_fail=$(grep -cE "$FO" "$T/server.err")
t0=$(date +%s%N)
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
el=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "  next new peer: $r after $el ms"
[ "$r" = ok ] && [ "$(grep -cE "$FO" "$T/server.err")" = "$n_fail" ] \
    && ok "the next appraisal goes to V2 first (no second failover)" || fail "next peer: $r, failovers $(grep -cE "$FO" "$T/server.err")"

# 3. V2 gone (killed), V1 answers again: connection refused is failed over at once.
kill -KILL "$VPID_V2"; wait "$VPID_V2" 2>/dev/null
kill -CONT "$VPID_V1"
sleep 1.5
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" = ok ] && ok "V2 gone, V1 back: the new peer is admitted" || fail "V2 gone: $r"

# 4. A replica whose EARs the PoP does not trust (another key) answering
#    first: the peer is refused, not retried at the good one.
start_v V3 other-ear.pem
sed -i "s|url: \"http://127.0.0.1:$VPORT_V1\", replicas: \[ \"http://127.0.0.1:$VPORT_V2\" \]|url: \"http://127.0.0.1:$VPORT_V3\", replicas: [ \"http://127.0.0.1:$VPORT_V1\" ]|" "$T/server.yaml"
grep -q "$VPORT_V3" "$T/server.yaml" || fail "config not rewritten"
reload_server
n_fail=$(grep -cE "$FO" "$T/server.err")
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" != ok ] && ok "an untrusted answer from the first replica refuses the peer" || fail "admitted with V3's EAR"
[ "$(grep -cE "$FO" "$T/server.err")" != "$n_fail" ] && fail "an untrusted answer was failed over" \
    || ok "no failover after an answer that fails a check"

# 5. Both replicas gone: new peers fail closed; an established one echoes on.
sed -i "s|url: \"http://127.0.0.1:$VPORT_V3\", replicas: \[ \"http://127.0.0.1:$VPORT_V1\" \]|url: \"http://127.0.0.1:$VPORT_V1\", replicas: [ \"http://127.0.0.1:$VPORT_V2\" ]|" "$T/server.yaml"
reload_server
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" = ok ] || fail "before the outage: $r"
adm0=$(metric "$SADMIN" 'vmesh_peers_admitted_total{pattern="attested"}')
python3 "$T/echo.py" probe "$OUT_PORT" "$T/stop1" "$T/during.json" &
p1=$!
for _ in $(seq 1 300); do   # the probe's peer admitted: its handshake is over
    [ "$(metric "$SADMIN" 'vmesh_peers_admitted_total{pattern="attested"}')" -gt "$adm0" ] && break; sleep 0.1
done
kill -KILL "$VPID_V1"; wait "$VPID_V1" 2>/dev/null
kill -KILL "$VPID_V3"; wait "$VPID_V3" 2>/dev/null
sleep 1.5
refused=0
for i in 1 2 3; do r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); [ "$r" = ok ] || refused=$((refused + 1)); done
[ "$refused" = 3 ] && ok "no replica: 3 of 3 new peers fail closed" || fail "no replica: only $refused of 3 refused"
touch "$T/stop1"; wait $p1
echo "  established connection: $(cat "$T/during.json")"
[ "$(json_get "$T/during.json" 'd["failed"]')" = 0 ] && ok "the established connection echoed through the outage" \
    || fail "established connection: $(cat "$T/during.json")"
stop_proxy client
stop_proxy server
finish
