#!/usr/bin/env bash
# A central verifier behind the relying party's RV snapshot (DECISIONS D41)
# and a silent one during re-appraisal. The PoP (server sidecar, central
# mode) and the central verifier follow the same RVP (one key, one name)
# through two `vmesh rvp serve` roots: publishing to the PoP's root first
# holds the verifier back deliberately (its RVP sync is paused), the race
# bench/sase-scale measured (a PoP that takes the revoking snapshot before
# the verifier re-appraised, got "affirming" under the verifier's old
# values and cached it under its new snapshot).
#  1. client's workload revoked at the PoP's root only: the held connection
#     is re-appraised, the verifier answers under the old epoch: counted as
#     behind, never a verdict, never cached (asked again and again), the
#     connection neither admitted for good nor closed; a new peer is refused
#     (stale-epoch, verifier-behind) after the bounded retries
#  2. the verifier catches up (the same snapshot at its root): the held
#     connection is closed (not-affirming), the close time after the
#     verifier's own update printed
#  3. reference values restored; the verifier SIGSTOPped and the PoP
#     reloaded: re-appraisal runs in the handshake pool, so an established
#     connection keeps echoing (latencies printed) and stays open (within
#     verifier.central.verdict-grace, 60 s by default); SIGCONT: still open
#  4. verdict-grace 2s, verifier SIGSTOPped, reload: the held connection is
#     closed once a re-appraisal got no verdict for 2 s (fails closed,
#     eventually, off the worker)
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o rvp.pem --pub rvp.pub >/dev/null || { echo "keygen failed"; exit 1; }
px_rv_json client "$(printf 'revoked\n' | sha256sum | cut -d' ' -f1)" > client-rv.revoked.json
mkdir -p rvin webpop webver
# publish FILE EPOCH DIR...: the client's reference values as epoch EPOCH at each root
publish() {
    local f=$1 e=$2 d; shift 2
    cp "$T/$f" "$T/rvin/client-rv.json"
    for d in "$@"; do
        "$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --out "$T/$d" --name acme --epoch "$e" \
            >/dev/null 2>"$T/publish.err" || { fail "publish epoch $e to $d: $(cat "$T/publish.err")"; }
    done
}
publish client-rv.json 1 webpop webver
PPORT=$(free_port); VRPORT=$(free_port); VPORT=$(free_port)
"$VMESH" rvp serve --root "$T/webpop" --listen "127.0.0.1:$PPORT" >"$T/rvp-pop.log" 2>&1 &
px_pids+=($!)
"$VMESH" rvp serve --root "$T/webver" --listen "127.0.0.1:$VRPORT" >"$T/rvp-ver.log" 2>&1 &
px_pids+=($!)
wait_port "$PPORT" 60 && wait_port "$VRPORT" 60 || { echo "rvp serve did not start"; exit 1; }
"$VMESH" verifier serve --key ear.pem --listen "127.0.0.1:$VPORT" --rvp "acme,http://127.0.0.1:$VRPORT,$T/rvp.pub,psa" \
    --state-dir "$T/vstate" --poll 1 --client-rate off >"$T/verifier.out" 2>"$T/verifier.log" &
VPID=$!; px_pids+=($VPID)
wait_port "$VPORT" 60 || { echo "verifier did not start"; cat "$T/verifier.log"; exit 1; }

px_config server
sed -i -e "s|^  rv-files: .*|  rvps: [ { name: acme, url: \"http://127.0.0.1:$PPORT\", key: $T/rvp.pub, schemes: [ psa ] } ]\n  poll-interval: 1s\n  state-dir: $T/pstate\n  central: { url: \"http://127.0.0.1:$VPORT\", key: $T/ear.pub, cache: 1h, insecure-plain-http: true }|" "$T/server.yaml"
grep -q "insecure-plain-http" "$T/server.yaml" || { echo "server config rewrite failed"; exit 1; }
px_config client
start_echo_app
start_proxy server
start_proxy client
m() { metric "$SADMIN" "$1"; }

r=""
for _ in $(seq 60); do r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); [ "$r" = ok ] && break; sleep 0.5; done
[ "$r" = ok ] && ok "central mode, epoch 1 at both roots: the client is admitted" \
    || { fail "first connection: $r; $(tail -3 "$T/server.err")"; finish; }
python3 "$T/echo.py" admit-hold "$OUT_PORT" "$T/hold.out" &
HOLD_PID=$!; px_pids+=("$HOLD_PID")
for _ in $(seq 200); do [ -s "$T/hold.out" ] && break; sleep 0.1; done
grep -q admitted "$T/hold.out" && ok "a connection is held open" || fail "hold: $(cat "$T/hold.out")"

# ---- 1. the PoP takes the revoking epoch 2; the verifier stays at epoch 1
publish client-rv.revoked.json 2 webpop
for _ in $(seq 300); do [ "$(m 'vmesh_rv_epoch{rvp="acme"}')" = 2 ] && break; sleep 0.1; done
[ "$(m 'vmesh_rv_epoch{rvp="acme"}')" = 2 ] && ok "the PoP installed epoch 2 (client revoked)" || fail "PoP epoch: $(m 'vmesh_rv_epoch{rvp="acme"}')"
for _ in $(seq 300); do [ "$(m vmesh_central_behind_total)" -ge 1 ] && break; sleep 0.1; done
b1=$(m vmesh_central_behind_total)
[ "$b1" -ge 1 ] && ok "the verifier's answer under epoch 1 is counted as behind ($b1)" || fail "no behind answer counted"
sleep 3
b2=$(m vmesh_central_behind_total)
[ "$b2" -gt "$b1" ] && ok "a behind answer is not cached: asked again ($b1 -> $b2 in 3 s)" \
    || fail "behind answer not asked again ($b1 -> $b2): cached?"
[ "$(m vmesh_reappraisal_undecided_total)" -ge 1 ] && ok "re-appraisal without a verdict counted ($(m vmesh_reappraisal_undecided_total))" \
    || fail "vmesh_reappraisal_undecided_total $(m vmesh_reappraisal_undecided_total)"
grep -q closed "$T/hold.out" && fail "closed while the verifier is merely behind" \
    || ok "the held connection stays while the verifier is behind (no verdict yet)"
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" != ok ] && ok "a new peer is not admitted on a behind verifier's answer ($r)" || fail "new peer admitted under the old epoch"
for _ in $(seq 100); do grep -q "verifier-behind" "$T/server.err" && break; sleep 0.1; done
grep -q "stale-epoch.*central verifier behind: it appraised under RVP acme epoch 1, this relying party has epoch 2" "$T/server.err" \
    && ok "the refusal names the behind verifier (stale-epoch, epochs 1 < 2)" \
    || fail "refusal line: $(grep -i 'refused\|behind' "$T/server.err" | tail -2)"

# ---- 2. the verifier catches up: the revoked client is cut
t0=$(date +%s.%N)
publish client-rv.revoked.json 2 webver
for _ in $(seq 300); do grep -q closed "$T/hold.out" && break; sleep 0.1; done
if grep -q closed "$T/hold.out"; then
    ok "the verifier caught up: the revoked client's connection is closed"
    echo "  numbers: closed $(awk -v t0="$t0" '/closed/ { printf "%.1f", $2 - t0 }' "$T/hold.out") s after publishing to the verifier's root (verifier poll 1 s, PoP re-asks every <= 1 s)"
else
    fail "the verifier caught up, the revoked client stayed connected (30 s)"
fi
grep -q "re-appraisal: not-affirming" "$T/server.err" && ok "closed as not-affirming (a verdict under epoch 2)" \
    || fail "close reason: $(grep -i closing "$T/server.err" | tail -2)"
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" != ok ] && ok "the revoked client is refused ($r)" || fail "revoked client admitted"

# ---- 3. verifier silent during a reload: established connections keep forwarding
publish client-rv.json 3 webpop webver
r=""
for _ in $(seq 60); do r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); [ "$r" = ok ] && break; sleep 0.5; done
[ "$r" = ok ] && ok "epoch 3 restores the client" || fail "restored: $r"
rm -f "$T/probe.stop"
python3 "$T/echo.py" probe "$OUT_PORT" "$T/probe.stop" "$T/probe.json" &
PROBE_PID=$!; px_pids+=("$PROBE_PID")
: > "$T/hold3.out"
python3 "$T/echo.py" admit-hold "$OUT_PORT" "$T/hold3.out" &
HOLD3_PID=$!; px_pids+=("$HOLD3_PID")
for _ in $(seq 200); do [ -s "$T/hold3.out" ] && break; sleep 0.1; done
grep -q admitted "$T/hold3.out" || fail "hold (3): $(cat "$T/hold3.out")"
sleep 1
u0=$(m vmesh_reappraisal_undecided_total)
kill -STOP "$VPID"
kill -HUP "$SERVER_PID"
sleep 12 # two handshake timeouts (5 s): the re-appraisals' requests time out meanwhile
touch "$T/probe.stop"; wait "$PROBE_PID"
kill -CONT "$VPID"
u1=$(m vmesh_reappraisal_undecided_total)
[ "$u1" -gt "$u0" ] && ok "re-appraisal with the verifier silent: no verdict, counted ($u0 -> $u1)" \
    || fail "no undecided re-appraisal ($u0 -> $u1): $(grep -i 're-appraisal\|reload' "$T/server.err" | tail -3)"
python3 - "$T/probe.json" <<'PY' && ok "echoes kept flowing while the verifier was silent and the PoP reloaded" || fail "echo probe: $(cat "$T/probe.json")"
import json, sys
d = json.load(open(sys.argv[1]))
print("  numbers: %d echoes, %d failed, p50 %s ms, p99 %s ms, max %s ms" % (d["n"], d["failed"], d["p50_ms"], d["p99_ms"], d["max_ms"]))
sys.exit(0 if d["failed"] == 0 and d["n"] > 0 else 1)
PY
grep -q closed "$T/hold3.out" && fail "an established connection was closed for a silent verifier" \
    || ok "the established connection stays open (verdict-grace not passed)"
r=""
for _ in $(seq 40); do r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); [ "$r" = ok ] && break; sleep 0.5; done
[ "$r" = ok ] && ok "verifier back: new peers admitted again" || fail "after SIGCONT: $r"
grep -q closed "$T/hold3.out" && fail "the held connection closed after the verifier came back" || ok "still open after the verifier came back"

# ---- 4. a verifier silent longer than verifier.central.verdict-grace: closed
sed -i "s|cache: 1h, insecure-plain-http: true|cache: 1h, verdict-grace: 2s, insecure-plain-http: true|" "$T/server.yaml"
grep -q "verdict-grace: 2s" "$T/server.yaml" || fail "server config rewrite (4)"
kill -STOP "$VPID"
kill -HUP "$SERVER_PID"
for _ in $(seq 300); do grep -q closed "$T/hold3.out" && break; sleep 0.1; done
kill -CONT "$VPID"
grep -q closed "$T/hold3.out" && ok "no verdict within verdict-grace (2 s): the connection is closed" \
    || fail "verdict-grace passed, connection still open (30 s)"
grep -q "re-appraisal: not-affirming: no verdict for [0-9]* s after the re-appraisal was asked (verifier.central.verdict-grace 2 s)" "$T/server.err" \
    && ok "the close names verdict-grace" || fail "close line: $(grep -i closing "$T/server.err" | tail -1)"
kill "$HOLD3_PID" 2>/dev/null; wait "$HOLD3_PID" 2>/dev/null

stop_proxy server
stop_proxy client
finish
