#!/usr/bin/env bash
# In-band re-attestation between two real proxies (docs/PROXY.md
# "Re-attestation"): a client sidecar (outbound) and a server sidecar
# (inbound) in front of a TCP echo app, both with a reattestation section.
#  1. Three long-lived connections with an echo every 20 ms; the bell rings
#     every 6 s; at each tick both sides ask (on-tick: from half a period
#     after the tick, when attesters bind to it, within a 300 ms jitter) and
#     every connection passes three rounds in each direction on the
#     connection it was opened with. The server's attester makes evidence
#     once per epoch, not once per answer. /peers and /dashboard/state show the last
#     attestation time and the rounds.
#  2. The server's measured workload changes mid-connection: at the next
#     tick its new evidence is not affirming; the client cuts the
#     connection with the reason (log, access log, metrics); the server
#     logs that the peer refused it.
#  3. A silent peer: the client (now asking every 700 ms, deadline 1.5 s)
#     cuts a SIGSTOPped server at the deadline.
# Numbers are printed (echo gaps, round times, bytes); nothing is timed.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
HELPERS=$(cd "$(dirname "$0")/helpers" && pwd)
px_setup
RT_TICK="reattestation:
  on-tick: true
  jitter: 300ms
  deadline: 3s"
px_config server "$RT_TICK"
px_config client "$RT_TICK"
start_echo_app
start_proxy server
start_proxy client

holder() { # holder NAME: starts one; its pid in HP_NAME
    rm -f "$T/$1.json" "$T/$1.json.open"
    python3 "$HELPERS/echo_holder.py" "$OUT_PORT" "$T/stop-$1" "$T/$1.json" &
    eval "HP_$1=$!"
    local i; for ((i = 0; i < 100; i++)); do [ -f "$T/$1.json.open" ] && return 0; sleep 0.1; done
    fail "holder $1 did not connect"
}
# peers ADMINPORT EXPR: python expression over the list `P` of /peers
# entries in state proxy
peers() {
    curl -s "http://127.0.0.1:$1/peers" |
        python3 -c "import json,sys; P=[p for p in json.load(sys.stdin) if p['state']=='proxy']; print($2)"
}
# wait_rounds ADMINPORT N: until every open connection passed N rounds (60 s at most)
wait_rounds() {
    local i; for ((i = 0; i < 300; i++)); do
        [ "$(peers "$1" "len(P) > 0 and min(p['reattested'] for p in P) >= $2")" = True ] && return 0
        sleep 0.2
    done
    return 1
}
ring() { "$VMESH" rvp tick --key "$T/bell.key" --out "$T/bellweb" >/dev/null || fail "rvp tick"; }
tick_now() { "$VMESH" rvp tick --show "$T/bellweb/bell.cwt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tick"])'; }

# ---- 1. three epochs, three rounds each way on each connection
for h in a b c; do holder $h; done
sleep 0.5
[ "$(peers "$CADMIN" 'len(P)')" = 3 ] && ok "three connections open through the client sidecar" || fail "client /peers: $(peers "$CADMIN" 'len(P)')"
mode=$(peers "$CADMIN" 'P[0]["mode"]')
echo "  negotiated mode: $mode"
ev0=$(metric "$SADMIN" vmesh_evidence_generated_total); am0=$(metric "$SADMIN" vmesh_attestations_made_total)
tk0=$(tick_now)
t_ring=$(date +%s)
"$VMESH" rvp tick --key "$T/bell.key" --out "$T/bellweb" --every 6 >/dev/null 2>&1 &
RING_PID=$!; px_pids+=($RING_PID)
for r in 1 2 3; do
    wait_rounds "$CADMIN" $r && ok "round $r: every connection re-attested the server (client asked)" || fail "round $r: client rounds $(peers "$CADMIN" '[p["reattested"] for p in P]')"
    wait_rounds "$SADMIN" $r && ok "round $r: every connection re-attested the client (server asked)" || fail "round $r: server rounds $(peers "$SADMIN" '[p["reattested"] for p in P]')"
done
ev1=$(metric "$SADMIN" vmesh_evidence_generated_total); am1=$(metric "$SADMIN" vmesh_attestations_made_total)
tk1=$(tick_now)
echo "  server attester over $((tk1 - tk0)) ticks: $((am1 - am0)) attestation answers, $((ev1 - ev0)) evidence generations (3 connections)"
[ $((am1 - am0)) -ge 9 ] && ok "server answered at least 3 requests on each of 3 connections" || fail "server answers: $((am1 - am0))"
if [ "$mode" = epoch-fresh ] || [ "$mode" = passport ]; then
    [ $((ev1 - ev0)) -le $((tk1 - tk0 + 1)) ] && [ $((ev1 - ev0)) -lt $((am1 - am0)) ] && ok "$mode: evidence made once per epoch, not per answer (the AK signs each request's binder)" || fail "$mode: evidence generated $((ev1 - ev0)) times over $((tk1 - tk0)) ticks"
fi
[ "$(peers "$CADMIN" 'len(P)')" = 3 ] && ok "still the same three connections (no reconnect)" || fail "client /peers after rounds: $(peers "$CADMIN" 'len(P)')"
# Round 3 follows the third ring, at least 12 s after the ringer started
# (every 6 s); the handshakes were before it. No upper bound on the age: a
# loaded machine may read /peers late.
now=$(date +%s)
age=$(peers "$CADMIN" "max($now - p['attested_at'] for p in P)")
after=$(peers "$CADMIN" "min(p['attested_at'] for p in P) - $t_ring")
[ "$after" -ge 10 ] && ok "/peers: attested_at is a later round ($after s after the ringer started, $age s ago), not the handshake" \
    || fail "/peers attested_at only $after s after the ringer started ($age s ago)"
curl -s "http://127.0.0.1:$SADMIN/dashboard/state" | python3 -c '
import json,sys; d=json.load(sys.stdin); o=[p for p in d["open"] if p["state"]=="proxy"]
sys.exit(0 if len(o) == 3 and all(p["reattested"] >= 3 and p["attested_at"] for p in o) else 1)' \
    && ok "/dashboard/state: open connections with attested_at and reattested" || fail "/dashboard/state lacks the re-attestation fields"
for h in a b c; do touch "$T/stop-$h"; done
for h in a b c; do eval "wait \$HP_$h"; done
for h in a b c; do
    [ "$(json_get "$T/$h.json" 'd["end"]')" = stopped ] && ok "holder $h: data flowed throughout ($(json_get "$T/$h.json" 'd["n"]') echoes every 20 ms; gap between echoes p50 $(json_get "$T/$h.json" 'd["gap_p50_ms"]') / p99 $(json_get "$T/$h.json" 'd["gap_p99_ms"]') / max $(json_get "$T/$h.json" 'd["max_gap_ms"]') ms, max echo rtt $(json_get "$T/$h.json" 'd["max_rtt_ms"]') ms)" \
        || fail "holder $h ended: $(json_get "$T/$h.json" 'd["end"]')"
done
p50() { curl -s "http://127.0.0.1:$1/metrics" | python3 -c '
import sys
b = {}; c = 0
for l in sys.stdin:
    if l.startswith("vmesh_reattestation_seconds_bucket"):
        b[l.split("\"")[1]] = int(l.split()[-1])
    if l.startswith("vmesh_reattestation_seconds_count"): c = int(l.split()[-1])
    if l.startswith("vmesh_reattestation_seconds_sum"): s = float(l.split()[-1])
print("%d rounds, mean %.1f ms" % (c, 1000 * s / c if c else 0))'; }
echo "  client as RP: $(p50 "$CADMIN"); server as RP: $(p50 "$SADMIN")"
sleep 0.5
grep -E '"reattested":[3-9]' "$T/client-access.log" | head -1 | grep -q '"attested_at":[0-9]' && ok "access log: reattested and attested_at per connection" || fail "access log lacks reattested:3"
np=$(metric "$CADMIN" 'vmesh_reattestations_total{direction="outbound",result="passed"}')
nq=$(metric "$CADMIN" 'vmesh_reattestations_total{direction="outbound",result="requested"}')
[ "$np" -ge 9 ] && [ "$np" = "$nq" ] && ok "client metric: $np of $nq requests passed (outbound)" || fail "client passed $np of $nq"
np=$(metric "$SADMIN" 'vmesh_reattestations_total{direction="inbound",result="passed"}')
[ "$np" -ge 9 ] && ok "server metric: $np rounds passed (inbound)" || fail "server passed: $np"

# ---- 2. the server's workload changes mid-connection
holder d
sleep 0.5
printf 'workload server v2 (not in the reference values)\n' > "$T/server-workload"
for ((i = 0; i < 300; i++)); do [ -f "$T/d.json" ] && break; sleep 0.1; done
case "$(json_get "$T/d.json" 'd["end"]' 2>/dev/null)" in eof|*reset*) true;; *) false;; esac && ok "the connection was cut after the workload change ($(json_get "$T/d.json" 'd["n"]') echoes before)" || fail "holder d: $(cat "$T/d.json" 2>/dev/null)"
touch "$T/stop-d"; wait "$HP_d" 2>/dev/null
sleep 0.5
grep -q '"result":"reattestation".*re-attestation failed: not-affirming' "$T/client-access.log" && ok "client access log: result reattestation, reason not-affirming" || { fail "client access log lacks the cut"; tail -2 "$T/client-access.log"; }
grep -q 'closing the connection with spiffe://example.org/ns/shop/sa/server: re-attestation failed: not-affirming' "$T/client.err" && ok "client log names the peer and the reason" || fail "client log lacks the cut"
[ "$(metric "$CADMIN" 'vmesh_reattestation_failures_total{reason="not-affirming",by="local"}')" = 1 ] && ok "client metric: not-affirming, local = 1" || fail "client failures metric"
[ "$(metric "$CADMIN" 'vmesh_connections_total{direction="outbound",result="reattestation"}')" = 1 ] && ok "client metric: one outbound connection ended by re-attestation" || fail "client result metric"
grep -q '"result":"reattestation".*re-attestation refused by the peer: not-affirming' "$T/server-access.log" && ok "server access log: refused by the peer" || { fail "server access log lacks the peer's refusal"; tail -2 "$T/server-access.log"; }
[ "$(metric "$SADMIN" 'vmesh_reattestation_failures_total{reason="not-affirming",by="peer"}')" = 1 ] && ok "server metric: not-affirming, by peer = 1" || fail "server failures metric"
printf 'workload server v1\n' > "$T/server-workload"

# ---- 3. a silent peer is cut at the deadline (client asks every 700 ms)
kill "$RING_PID"; wait "$RING_PID" 2>/dev/null
ring # one tick valid for two minutes: none rings in this part
# Both restart: a fresh bell view knows only this tick (the server's
# attester binds to it at once, the client accepts it).
stop_proxy client
stop_proxy server
px_config client "reattestation:
  every: 700ms
  deadline: 1500ms"
start_proxy server
start_proxy client
holder e
sleep 1.2
[ "$(peers "$CADMIN" 'P[0]["reattested"] >= 1')" = True ] && ok "every 700 ms: a round passed" || fail "no periodic round: $(peers "$CADMIN" 'P')"
kill -STOP "$SERVER_PID"
t0=$(date +%s.%N)
for ((i = 0; i < 100; i++)); do [ -f "$T/e.json" ] && break; sleep 0.1; done
t1=$(date +%s.%N)
kill -CONT "$SERVER_PID"
case "$(json_get "$T/e.json" 'd["end"]' 2>/dev/null)" in eof|*reset*) true;; *) false;; esac && ok "the silent server was cut ($(python3 -c "print(round($t1 - $t0, 2))") s after SIGSTOP; requests every 0.7 s, deadline 1.5 s)" || fail "holder e: $(cat "$T/e.json" 2>/dev/null)"
touch "$T/stop-e"; wait "$HP_e" 2>/dev/null
sleep 0.5
grep -q '"result":"reattestation".*re-attestation failed: timeout: the peer did not answer re-attestation request [0-9]* within 1500 ms' "$T/client-access.log" && ok "client access log: timeout at the deadline" || { fail "client access log lacks the timeout"; tail -2 "$T/client-access.log"; }
[ "$(metric "$CADMIN" 'vmesh_reattestation_failures_total{reason="timeout",by="local"}')" = 1 ] && ok "client metric: timeout, local = 1" || fail "timeout metric"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$CADMIN/ready")
[ "$code" = 200 ] && ok "client sidecar still ready" || fail "client /ready $code"
stop_proxy client
stop_proxy server
finish
