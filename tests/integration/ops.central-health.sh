#!/usr/bin/env bash
# Central-verifier reachability as metrics (issue 15.3, verifier part): a
# PoP sidecar in central mode (verifier.central) exports
# vmesh_central_verifier_{up,requests_total,failures_total,
# consecutive_failures,last_success_timestamp_seconds}{url}; with the
# verifier up a request is admitted and up is 1; with the verifier killed
# new peers are refused, up drops to 0, the failures are counted and ONE
# loss line is logged; restarted on the same port, the next peer is
# admitted, up is 1 again and one recovery line says after how many
# failures. promtool check metrics passes in each state. /ready follows a
# reachability probe of the verifier (one GET per verifier.poll-interval,
# here 1s): 503 naming the verifier URL while it is down, 200 again after
# the restart (waited for with a bound; the times are printed, not judged).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v promtool >/dev/null || { echo "SKIP: promtool missing (Debian package prometheus)"; exit 77; }
px_setup
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null || { echo "keygen failed"; exit 1; }
VPORT=$(free_port)
start_verifier() {
    "$VMESH" verifier serve --key ear.pem --listen "127.0.0.1:$VPORT" --rv "$T/client-rv.json" >>"$T/verifier.out" 2>>"$T/verifier.log" &
    VPID=$!
    px_pids+=($VPID)
    wait_port "$VPORT" 60 || { echo "verifier did not start"; cat "$T/verifier.log"; exit 1; }
}
start_verifier
px_config server "  connect-timeout: 2s"
sed -i "s|^verifier:|verifier:\n  central: { url: \"http://127.0.0.1:$VPORT\", key: $T/ear.pub, cache: 1s, insecure-plain-http: true }\n  poll-interval: 1s|" "$T/server.yaml"
px_config client
start_echo_app
start_proxy server
start_proxy client
m() { metric "$SADMIN" "vmesh_central_verifier_$1{url=\"http://127.0.0.1:$VPORT\"}"; }
promcheck() {
    curl -s "http://127.0.0.1:$SADMIN/metrics" >"$T/metrics.$1"
    if promtool check metrics <"$T/metrics.$1" >"$T/promtool.$1" 2>&1; then ok "promtool check metrics ($1)"
    else fail "promtool ($1): $(head -5 "$T/promtool.$1")"; fi
}
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" = ok ] && ok "central mode admits a peer" || fail "first connection: $r"
[ "$(m up)" = 1 ] && ok "up 1 after an answer" || fail "up $(m up)"
[ "$(m requests_total)" -ge 1 ] && ok "requests_total $(m requests_total)" || fail "requests_total $(m requests_total)"
[ "$(m last_success_timestamp_seconds)" -gt 0 ] && ok "last success at $(m last_success_timestamp_seconds)" || fail "no last success"
promcheck up
# ready_is CODE: waits (at most 60 s) until the server's /ready answers CODE
ready_is() {
    local t0 code i
    t0=$(date +%s.%N)
    for i in $(seq 120); do
        code=$(curl -s -o "$T/ready.body" -w '%{http_code}' "http://127.0.0.1:$SADMIN/ready")
        [ "$code" = "$1" ] && { echo "$(python3 -c "print(round($(date +%s.%N)-$t0,1))") s"; return 0; }
        sleep 0.5
    done
    return 1
}
w=$(ready_is 200) && ok "/ready 200 with the verifier up ($w)" || fail "/ready not 200 with the verifier up: $(cat "$T/ready.body")"

kill "$VPID"; wait "$VPID" 2>/dev/null
sleep 1.5 # the AR cache (cache: 1s) forgets the client: the next handshake needs the verifier
for i in 1 2 3; do
    [ "$i" -gt 1 ] && sleep 2.1 # past the AR cache (cache: 1s, whole seconds; a failure is cached too)
    r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
    [ "$r" != ok ] && ok "verifier down: peer $i refused" || fail "verifier down: peer $i admitted"
done
[ "$(m up)" = 0 ] && ok "up 0 with the verifier down" || fail "up $(m up) with the verifier down"
[ "$(m failures_total)" -ge 3 ] && ok "failures_total $(m failures_total)" || fail "failures_total $(m failures_total)"
[ "$(m consecutive_failures)" -ge 3 ] && ok "consecutive_failures $(m consecutive_failures)" || fail "consecutive $(m consecutive_failures)"
n=$(grep -c 'central verifier http://127.0.0.1:'"$VPORT"' unreachable' "$T/server.err")
[ "$n" = 1 ] && ok "one loss line: $(grep -m1 'central verifier .* unreachable' "$T/server.err" | cut -c1-200)" || fail "$n loss lines"
promcheck down
if w=$(ready_is 503); then
    ok "/ready 503 with the verifier down (after $w): $(head -c 300 "$T/ready.body")"
    grep -q "central verifier http://127.0.0.1:$VPORT unreachable" "$T/ready.body" && ok "/ready names the verifier URL" \
        || fail "/ready body does not name the verifier: $(cat "$T/ready.body")"
else fail "/ready never 503 with the verifier down (60 s): $(cat "$T/ready.body")"; fi

start_verifier
# a failure is cached for cache: 1s in whole seconds: retried for up to 10 s
for _ in $(seq 20); do
    r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
    [ "$r" = ok ] && break
    sleep 0.5
done
[ "$r" = ok ] && ok "verifier back: peer admitted" || fail "verifier back: $r"
[ "$(m up)" = 1 ] && ok "up 1 again" || fail "up $(m up) after recovery"
[ "$(m consecutive_failures)" = 0 ] && ok "consecutive_failures 0" || fail "consecutive $(m consecutive_failures)"
grep -q 'central verifier http://127.0.0.1:'"$VPORT"' answers again after [0-9]* failed requests' "$T/server.err" &&
    ok "recovery line: $(grep -m1 'answers again' "$T/server.err" | cut -c1-200)" || fail "no recovery line"
promcheck recovered
w=$(ready_is 200) && ok "/ready 200 again after the restart ($w)" || fail "/ready not 200 after the restart: $(cat "$T/ready.body")"
# the client sidecar has no verifier.central: no such metric
curl -s "http://127.0.0.1:$CADMIN/metrics" | grep -q vmesh_central_verifier && fail "client sidecar exports central metrics" || ok "no central metrics without verifier.central"
stop_proxy client
stop_proxy server
finish
