#!/usr/bin/env bash
# A central verifier behind the relying party's RV snapshot (DECISIONS D41)
# and a silent one during re-appraisal. The PoP (server sidecar, central
# mode) and the central verifier follow the same RVP (one key, one name)
# through two `vmesh rvp serve` roots: publishing to the PoP's root first
# holds the verifier back deliberately (its RVP sync is paused), the race
# bench/sase-scale measured (a PoP that takes the revoking snapshot before
# the verifier re-appraised, got "affirming" under the verifier's old
# values and cached it under its new snapshot).
#  1. (D43) the PoP's snapshot moves on alone: an epoch that adds another
#     workload's reference values keeps the held connection from the
#     verifier's signed lookup journal, no verifier round trip; the epoch
#     that revokes the client's workload closes it at once from the journal
#     (the PoP's own snapshot contradicts the verifier's answer), no
#     verifier round trip; a new peer asks the verifier, which answers under
#     the old epoch: counted as behind, never cached (asked again), refused
#     (stale-epoch, verifier-behind) after the bounded retries
#  2. the verifier catches up (the same snapshot at its root): the revoked
#     client is refused with its verdict (not-affirming)
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

creq() { curl -s "http://127.0.0.1:$SADMIN/metrics" | awk '$1 ~ /^vmesh_central_verifier_requests_total/ { s += $2 } END { print s + 0 }'; }

# ---- 1. D43: the PoP's snapshot moves on alone; the verifier stays at epoch 1
# 1a. epoch 2 adds another workload's reference values only: the held
#     connection is re-appraised from the verifier's signed lookup journal
#     (ear.vmesh.rv-journal) under the PoP's snapshot: same answers, kept,
#     the verifier not asked
q0=$(creq); full0=$(m vmesh_reappraisal_full_total)
px_rv_json server "$(sha256sum "$T/server-workload" | cut -d' ' -f1)" > "$T/rvin/other.json"
publish client-rv.json 2 webpop
for _ in $(seq 300); do [ "$(m 'vmesh_rv_epoch{rvp="acme"}')" = 2 ] && break; sleep 0.1; done
for _ in $(seq 50); do [ "$(m 'vmesh_rv_journal_replays_total{result="same"}')" -ge 1 ] && break; sleep 0.1; done
[ "$(m 'vmesh_rv_epoch{rvp="acme"}')" = 2 ] && [ "$(m 'vmesh_rv_journal_replays_total{result="same"}')" -ge 1 ] \
    && ok "unrelated epoch 2 at the PoP: kept by the verifier's journal (same answers)" \
    || fail "epoch $(m 'vmesh_rv_epoch{rvp="acme"}'), journal same $(m 'vmesh_rv_journal_replays_total{result="same"}')"
sleep 1
[ "$(creq)" = "$q0" ] && [ "$(m vmesh_reappraisal_full_total)" = "$full0" ] && ! grep -q closed "$T/hold.out" \
    && ok "no verifier round trip for the unrelated epoch, the connection stays" \
    || fail "verifier requests $q0 -> $(creq), full re-appraisals $full0 -> $(m vmesh_reappraisal_full_total)"
# 1b. epoch 3 revokes the client at the PoP's root only: the journal's
#     answer changed under the PoP's own snapshot, the held connection is
#     closed at once without asking the (behind) verifier
t0=$(date +%s.%N)
publish client-rv.revoked.json 3 webpop
for _ in $(seq 300); do grep -q closed "$T/hold.out" && break; sleep 0.1; done
[ "$(m 'vmesh_rv_epoch{rvp="acme"}')" = 3 ] && ok "the PoP installed epoch 3 (client revoked)" || fail "PoP epoch: $(m 'vmesh_rv_epoch{rvp="acme"}')"
if grep -q closed "$T/hold.out"; then
    ok "the PoP's own snapshot closed the held connection (the verifier still at epoch 1)"
    echo "  numbers: closed $(awk -v t0="$t0" '/closed/ { printf "%.1f", $2 - t0 }' "$T/hold.out") s after publishing to the PoP's root (PoP poll 1 s)"
else
    fail "the held connection stayed open under a revoking snapshot"
fi
[ "$(creq)" = "$q0" ] && [ "$(m vmesh_reappraisal_full_total)" = "$full0" ] \
    && ok "closed from the journal alone: no verifier round trip" \
    || fail "verifier requests $q0 -> $(creq), full re-appraisals $full0 -> $(m vmesh_reappraisal_full_total)"
grep -q "re-appraisal: not-affirming: reference values changed: reference value for component workload .* no longer matches at RVP acme epoch 3" "$T/server.err" \
    && ok "the close names the changed answer and the PoP's epoch" || fail "close reason: $(grep -i closing "$T/server.err" | tail -2)"
# a new peer needs the verifier's verdict, which it gives under epoch 1: behind
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" != ok ] && ok "a new peer is not admitted on a behind verifier's answer ($r)" || fail "new peer admitted under the old epoch"
b1=$(m vmesh_central_behind_total)
[ "$b1" -ge 2 ] && ok "the verifier's answers under epoch 1 are counted as behind, asked again ($b1)" || fail "behind answers: $b1"
for _ in $(seq 100); do grep -q "verifier-behind" "$T/server.err" && break; sleep 0.1; done
grep -q "stale-epoch.*central verifier behind: it appraised under RVP acme epoch 1, this relying party has epoch 3" "$T/server.err" \
    && ok "the refusal names the behind verifier (stale-epoch, epochs 1 < 3)" \
    || fail "refusal line: $(grep -i 'refused\|behind' "$T/server.err" | tail -2)"
# the back-off is a setting (verifier.central.behind-wait): below 100ms (the
# first back-off step) refuses the new peer at the first behind answer
reload_wait() {
    local n0; n0=$(m 'vmesh_reloads_total{result="ok"}')
    kill -HUP "$SERVER_PID"
    for _ in $(seq 300); do [ "$(m 'vmesh_reloads_total{result="ok"}')" -gt "$n0" ] && return 0; sleep 0.1; done
    fail "reload not done: $(grep -i reload "$T/server.err" | tail -2)"
}
sed -i "s|cache: 1h, insecure-plain-http: true|cache: 1h, behind-wait: 1ms, insecure-plain-http: true|" "$T/server.yaml"
reload_wait
b2=$(m vmesh_central_behind_total)
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
b3=$(m vmesh_central_behind_total)
[ "$r" != ok ] && [ $((b3 - b2)) = 1 ] && ok "behind-wait 1ms: refused after one behind answer ($b2 -> $b3)" \
    || fail "behind-wait 1ms: $r, behind answers $b2 -> $b3"
sed -i "s|cache: 1h, behind-wait: 1ms, insecure-plain-http: true|cache: 1h, insecure-plain-http: true|" "$T/server.yaml"
reload_wait

# ---- 2. the verifier catches up: the revoked client is refused with its verdict
publish client-rv.revoked.json 3 webver
r=""
for _ in $(seq 60); do
    r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
    grep -v "re-appraisal" "$T/server.err" | grep -q "not-affirming" && break; sleep 0.5
done
[ "$r" != ok ] && grep -v "re-appraisal" "$T/server.err" | grep -q "not-affirming" && ok "the verifier caught up: the revoked client is refused (not-affirming)" \
    || fail "after the verifier caught up: $r; $(grep -i refus "$T/server.err" | tail -2)"

# ---- 3. verifier silent during a reload: established connections keep forwarding
publish client-rv.json 4 webpop webver
r=""
for _ in $(seq 60); do r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); [ "$r" = ok ] && break; sleep 0.5; done
[ "$r" = ok ] && ok "epoch 4 restores the client" || fail "restored: $r"
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
