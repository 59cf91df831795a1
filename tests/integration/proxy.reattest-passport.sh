#!/usr/bin/env bash
# Passport mode across epochs (issue 19.2, docs/PROXY.md "Re-attestation",
# D32): a server sidecar attests with passports from a central verifier
# (`vmesh verifier serve`) that pulls the server's reference values from an
# RVP (`vmesh rvp serve`) and follows its epoch bell; the client sidecar
# trusts the verifier's EAR key, accepts passports only, requires this
# epoch's passport (policy passport-epoch-lag: 0) and re-attests the
# server at every tick (on-tick).
#  1. Two long-lived connections with an echo every 20 ms; the bell rings
#     every 6 s. Every round passes on both (so each tick's answer carried
#     that tick's passport: the previous one is refused under lag 0), and
#     the verifier's session count shows one passport fetch per epoch for
#     the server's attester, not one per connection or per round.
#  2. The RVP withdraws the server's workload (a revocation). The verifier
#     polls every second; at the next tick it no longer affirms the
#     server, whose attester can only present the previous epoch's
#     passport: the client cuts both connections at that tick's round
#     (stale-epoch) with the reason in its log, access log, metrics and
#     /dashboard/state; /peers no longer lists them; a new connection is
#     refused at the handshake. The time from publication to cut is
#     printed beside the poll interval and the tick period.
#  3. The RVP restores the workload: a new connection is admitted again.
#     Then the verifier goes away: the server presents its previous
#     epoch's passport at the next round (as a replaying peer would) and
#     is cut with stale-epoch.
# Numbers are printed; nothing is timed.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
HELPERS=$(cd "$(dirname "$0")/helpers" && pwd)
px_setup
PERIOD=6
"$VMESH" keygen --type ec-p256 -o rvp.key --pub rvp.pub >/dev/null
"$VMESH" keygen --type ec-p256 -o ear.key --pub ear.pub >/dev/null
mkdir -p rv-good rv-revoked rvweb vstate
cp server-rv.json rv-good/server.json
px_rv_json server "$(printf 'a withdrawn build' | sha256sum | cut -d' ' -f1)" > rv-revoked/server.json
publish() { "$VMESH" rvp publish --key rvp.key --in "$1" --out rvweb --name fleet >/dev/null || fail "rvp publish $1"; }
publish rv-good
"$VMESH" rvp tick --key bell.key --out rvweb --every "$PERIOD" >"$T/ring.log" 2>&1 &
px_pids+=($!)
for ((i = 0; i < 300; i++)); do [ -s rvweb/bell.cwt ] && break; sleep 0.1; done
[ -s rvweb/bell.cwt ] || { fail "the bell did not ring"; finish; }
RVP_PORT=$(free_port); VPORT=$(free_port)
"$VMESH" rvp serve --root rvweb --listen "127.0.0.1:$RVP_PORT" >"$T/rvp.log" 2>&1 &
px_pids+=($!)
wait_port "$RVP_PORT" 60 || { fail "rvp serve did not start"; finish; }
POLL=1
start_verifier() {
    "$VMESH" verifier serve --listen "127.0.0.1:$VPORT" --key ear.key --threads 1 \
        --rvp "fleet,http://127.0.0.1:$RVP_PORT,rvp.pub" --bell-key bell.pub --state-dir vstate --poll $POLL \
        >>"$T/verifier.log" 2>&1 &
    VER_PID=$!; px_pids+=($VER_PID)
    wait_port "$VPORT" 60 || { fail "verifier did not start"; cat "$T/verifier.log"; finish; }
}
start_verifier
# evidence requests at the verifier: sessions plus one-request appraisals (D42)
vsessions() { curl -s "http://127.0.0.1:$VPORT/metrics" | awk '$1 == "vmesh_verifier_sessions_total" || $1 == "vmesh_verifier_oneshot_total" { n += $2 } END { print n + 0 }'; }

common() { # common ROLE PEER
    cat <<YAML
identity: { cert: $T/$1-chain.pem, key: $T/$1.key, bundle: $T/ca/bundle.pem }
admin: { listen: "127.0.0.1:$([ "$1" = server ] && echo "$SADMIN" || echo "$CADMIN")" }
access-log: { file: $T/$1-access.log }
limits: { workers: 2, handshake-timeout: 5s }
YAML
}
{ common server
  cat <<YAML
attester:
  platform: psa
  modes: [ passport ]
  options: { iak: $T/server-iak.pem, claims: $T/server-claims.json, measure: [ "BL=$T/server-fw", "workload=$T/server-workload" ] }
verifier:
  rv-files: [ $T/client-rv.json ]
  bell: { file: $T/rvweb/bell.cwt, key: $T/bell.pub, refresh: 1s }
  passport: { central: "http://127.0.0.1:$VPORT", insecure-plain-http: true }
reattestation: { deadline: 3s }
inbound:
  - { name: web, listen: "127.0.0.1:$IN_PORT", app: "127.0.0.1:$APP_PORT", peer: "spiffe://example.org/ns/shop/*" }
YAML
} > "$T/server.yaml"
{ common client
  cat <<YAML
attester:
  platform: psa
  options: { iak: $T/client-iak.pem, claims: $T/client-claims.json, measure: [ "BL=$T/client-fw", "workload=$T/client-workload" ] }
verifier:
  bell: { file: $T/rvweb/bell.cwt, key: $T/bell.pub, refresh: 1s }
  trusted-verifiers: [ $T/ear.pub ]
policy:
  inline: { id: "policy:test/passport-this-epoch", modes: [ passport ], passport-epoch-lag: 0 }
reattestation: { on-tick: true, jitter: 300ms, deadline: 3s }
outbound:
  - { name: to-web, listen: "127.0.0.1:$OUT_PORT", upstreams: [ "127.0.0.1:$IN_PORT" ], peer: spiffe://example.org/ns/shop/sa/server }
YAML
} > "$T/client.yaml"
start_echo_app
start_proxy server
start_proxy client

holder() {
    rm -f "$T/$1.json" "$T/$1.json.open" "$T/stop-$1"
    python3 "$HELPERS/echo_holder.py" "$OUT_PORT" "$T/stop-$1" "$T/$1.json" &
    eval "HP_$1=$!"
    local i; for ((i = 0; i < 100; i++)); do [ -f "$T/$1.json.open" ] && return 0; sleep 0.1; done
    fail "holder $1 did not connect"
}
peers() {
    curl -s "http://127.0.0.1:$1/peers" |
        python3 -c "import json,sys; P=[p for p in json.load(sys.stdin) if p['state']=='proxy']; print($2)"
}
wait_rounds() { # wait_rounds N: every open connection passed N rounds (90 s at most)
    local i; for ((i = 0; i < 450; i++)); do
        [ "$(peers "$CADMIN" "len(P) > 0 and min(p['reattested'] for p in P) >= $1")" = True ] && return 0
        sleep 0.2
    done
    return 1
}
tick_now() { "$VMESH" rvp tick --show "$T/rvweb/bell.cwt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tick"])'; }
# one_shot: a new connection through the client sidecar echoes a line? (ok / refused)
one_shot() { python3 - "$OUT_PORT" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10); s.settimeout(10)
    s.sendall(b"hello\n"); print("ok" if s.recv(16) == b"hello\n" else "refused")
except OSError: print("refused")
PY
}
# wait_end NAME: until holder NAME has ended (90 s at most)
wait_end() { local i; for ((i = 0; i < 900; i++)); do [ -f "$T/$1.json" ] && return 0; sleep 0.1; done; return 1; }

# ---- 1. rounds across ticks, one passport per epoch
holder a; holder b
sleep 0.5
[ "$(peers "$CADMIN" 'len(P)')" = 2 ] && ok "two connections open through the client sidecar" || fail "client /peers: $(peers "$CADMIN" 'len(P)')"
mode=$(peers "$CADMIN" 'P[0]["mode"]')
[ "$mode" = passport ] && ok "the server attests with a passport" || fail "negotiated mode: $mode"
s0=$(vsessions); tk0=$(tick_now)
for r in 1 2 3; do
    wait_rounds $r && ok "round $r: both connections re-attested the server with this epoch's passport" \
        || fail "round $r: rounds $(peers "$CADMIN" '[p["reattested"] for p in P]'); $(grep -E 'stale|passport' "$T/client.err" | tail -2)"
done
s1=$(vsessions); tk1=$(tick_now)
nr=$(peers "$CADMIN" 'sum(p["reattested"] for p in P)')
echo "  verifier: $((s1 - s0)) passport fetches (sessions) over $((tk1 - tk0)) ticks for $nr rounds on 2 connections"
[ $((s1 - s0)) -ge 1 ] && [ $((s1 - s0)) -le $((tk1 - tk0 + 1)) ] && ok "one passport fetch per epoch for the server's attester, not per connection or round" \
    || fail "passport fetches $((s1 - s0)) over $((tk1 - tk0)) ticks"
lag=$(grep -c "verifier's bell view lags" "$T/server.err" || true)
echo "  server: passports whose marker lagged the tick fetched for: $lag"
[ "$(peers "$CADMIN" 'len(P)')" = 2 ] && ok "still the same two connections (no reconnect)" || fail "client /peers: $(peers "$CADMIN" 'len(P)')"

# ---- 2. revocation at the RVP
t_pub=$(date +%s.%N)
publish rv-revoked
wait_end a && wait_end b
t_cut=$(python3 -c "import json; print(max(json.load(open('$T/a.json'))['t_end'], json.load(open('$T/b.json'))['t_end']))")
for h in a b; do
    case "$(json_get "$T/$h.json" 'd["end"]')" in eof|*reset*) ok "holder $h cut after the revocation ($(json_get "$T/$h.json" 'd["n"]') echoes, max gap $(json_get "$T/$h.json" 'd["max_gap_ms"]') ms)";;
        *) fail "holder $h: $(cat "$T/$h.json")";; esac
done
echo "  revocation: both connections cut $(python3 -c "print(round($t_cut - $t_pub, 2))") s after the RVP published it (verifier poll ${POLL} s, tick period ${PERIOD} s, attesters bind $((PERIOD / 2)) s after a tick, rounds spread over 0.3 s after that)"
sleep 0.5
grep -q '"result":"reattestation".*re-attestation failed: stale-epoch: passport EAR was issued under bell [^ ]* tick [0-9]*; policy policy:test/passport-this-epoch requires this epoch.s passport' "$T/client-access.log" \
    && ok "client access log: result reattestation, stale-epoch, the ticks named" || { fail "client access log lacks the cut"; tail -2 "$T/client-access.log"; }
grep -q 'closing the connection with spiffe://example.org/ns/shop/sa/server: re-attestation failed: stale-epoch' "$T/client.err" && ok "client log names the peer and the reason" || fail "client log lacks the cut"
[ "$(metric "$CADMIN" 'vmesh_reattestation_failures_total{reason="stale-epoch",by="local"}')" = 2 ] && ok "client metric: stale-epoch, local = 2" || fail "client failures metric: $(metric "$CADMIN" 'vmesh_reattestation_failures_total{reason="stale-epoch",by="local"}')"
[ "$(peers "$CADMIN" 'len(P)')" = 0 ] && ok "/peers: no open connection left" || fail "client /peers: $(peers "$CADMIN" 'len(P)')"
curl -s "http://127.0.0.1:$CADMIN/dashboard/state" | python3 -c '
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if any(r.get("result") == "reattestation" and "stale-epoch" in r.get("reason", "") for r in d["recent"]) else 1)' \
    && ok "/dashboard/state recent: the cut with its reason" || fail "/dashboard/state recent lacks the cut"
grep -q "passport renewal for epoch tick [0-9]* failed, presenting the passport of tick" "$T/server.err" && ok "server log: no passport for the new epoch (the verifier refused it)" || fail "server log lacks the failed renewal"
grep -q "did not affirm" "$T/server.err" && ok "server log: the verifier did not affirm the platform" || fail "server log lacks the verifier's verdict"
[ "$(one_shot)" = refused ] && ok "a new connection is refused at the handshake (previous epoch's passport)" || fail "a new connection was admitted after the revocation"

# ---- 3. restored; then the verifier goes away: the previous epoch's passport is refused
publish rv-good
t_res=$(date +%s.%N)
for ((i = 0; i < 90; i++)); do [ "$(one_shot)" = ok ] && break; sleep 1; done
[ "$(one_shot)" = ok ] && ok "after the RVP restored the workload a new connection is admitted ($(python3 -c "import time; print(round(time.time() - $t_res, 1))") s later)" || fail "not admitted after the restore"
holder c
wait_rounds 1 && ok "the new connection passes a round" || fail "no round after the restore: $(tail -2 "$T/client.err")"
kill "$VER_PID"; wait "$VER_PID" 2>/dev/null
t_stop=$(date +%s.%N)
wait_end c || fail "holder c not cut after the verifier stopped"
case "$(json_get "$T/c.json" 'd["end"]' 2>/dev/null)" in eof|*reset*) ok "verifier gone: the server's previous-epoch passport was refused at the next round ($(python3 -c "import json; print(round(json.load(open('$T/c.json'))['t_end'] - $t_stop, 2))") s after the stop)";;
    *) fail "holder c: $(cat "$T/c.json" 2>/dev/null)";; esac
[ "$(metric "$CADMIN" 'vmesh_reattestation_failures_total{reason="stale-epoch",by="local"}')" = 3 ] && ok "client metric: stale-epoch, local = 3" || fail "client failures metric after the verifier stop"
stop_proxy client
stop_proxy server
finish
