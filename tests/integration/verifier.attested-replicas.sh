#!/usr/bin/env bash
# An attested central verifier with replicas (issue 12.2 + 12.5, DECISIONS
# D45). A server sidecar in central mode has verifier.central.url V1 and
# replicas [ V2 ], both https, both attested under verifier-rv (psa-sim
# platforms, same EAR key K): each URL is attested on its own, evidence
# goes only to one whose link attests now, and
#   1. both attest: peers admitted; each URL's standing in /metrics
#   2. V1 stopped: peers admitted through V2; /ready stays 200
#   3. V2 restarted on an unendorsed platform with another EAR key: judged
#      and refused, never sent evidence (its counter does not move), logged
#      once; peers admitted through V1
#   4. V2 restarted on an unendorsed platform holding K (the usual shared
#      key material): K itself is no longer trusted: the connection V1's
#      result admitted is closed, new peers are refused (ear-untrusted)
#      and no evidence goes to V1 either; V2 endorsed again: admitted again;
#      V1 silent (SIGSTOP): peers admitted through V2
#   5. both refused (their workload revoked at the relying party): new
#      peers refused without evidence to either, /ready 503
#   6. `vmesh proxy --check` accepts the combination
#   7. judged by the RVP's snapshot (attested: true): the verifier workload
#      revoked by `rvp publish` closes the held connection, refuses new
#      peers without evidence to either replica; republished: admitted
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
"$VMESH" keygen --type ec-p256 -o "$T/ear.pem" --pub "$T/ear.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o "$T/ear2.pem" --pub "$T/ear2.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/ns/vmesh/sa/verifier --out vtls >/dev/null \
    || { echo "ca issue failed"; exit 1; }
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/ns/vmesh/sa/verifier --out vtls2 >/dev/null \
    || { echo "ca issue failed"; exit 1; }
px_platform verifier "vmesh verifier v1"
printf 'vmesh verifier v1 with a backdoor\n' > verifier-evil-workload
px_rv_json verifier "$(sha256sum verifier-workload | cut -d' ' -f1)" > verifier-rv.json
px_rv_json verifier "$(sha256sum server-workload | cut -d' ' -f1)" > verifier-rv.revoked.json
cp verifier-rv.json verifier-rv.active.json

# two replicas, each with its own TLS key, the same EAR key
px_start_verifier v1 "$T/ear.pem" verifier-workload 0 vtls
px_start_verifier v2 "$T/ear.pem" verifier-workload 0 vtls2
U1="https://127.0.0.1:$V1_PORT"
U2="https://127.0.0.1:$V2_PORT"

# Evidence requests a verifier took: sessions plus one-request appraisals.
sessions() { curl -sk --max-time 5 "https://127.0.0.1:$1/metrics" | awk '$1 == "vmesh_verifier_sessions_total" || $1 == "vmesh_verifier_oneshot_total" || $1 == "vmesh_verifier_batch_items_total" { n += $2 } END { print n + 0 }'; }
metric() { curl -s "http://127.0.0.1:$SADMIN/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
log_has() { local i; for i in $(seq "${2:-50}"); do grep -q -- "$1" "$T/server.err" "$T/server-access.log" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
once() { python3 "$T/echo.py" once "$OUT_PORT" 2>&1; }
# admitted N: N new connections, each one "ok"
admitted() { local i r; for i in $(seq "$1"); do r=$(once); [ "$r" = ok ] || { echo "$r"; return 1; }; done; return 0; }
restart_v() { # restart_v NAME EARKEY WORKLOAD PORT TLS
    local pid; pid=$(eval echo "\${${1^^}_PID}")
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    px_start_verifier "$1" "$2" "$3" "$4" "$5"
}

start_echo_app
px_config server
px_config client
sed -i "s|^attester:|attester:\n  modes: [ fresh ]|" "$T/client.yaml"
cp "$T/server.yaml" "$T/server.base.yaml"
sed -i "s|^  rv-files: .*|  poll-interval: 2s\n  central: { url: \"$U1\", replicas: [ \"$U2\" ], key: $T/ear.pub, cache: 1s, verifier-rv: $T/verifier-rv.active.json, attest-recheck: 1s }|" \
    "$T/server.yaml"
grep -q "replicas: \[ \"$U2\" \]" "$T/server.yaml" || { echo "server config rewrite failed"; exit 1; }

# 6. the configuration is accepted
"$VMESH" proxy -c "$T/server.yaml" --check >"$T/check.out" 2>&1 && ok "attested + replicas: --check accepts it" \
    || fail "--check: $(cat "$T/check.out")"
sed "s|replicas: \[ \"$U2\" \]|replicas: [ \"$U2\", \"$U2\" ]|" "$T/server.yaml" > "$T/twice.yaml"
"$VMESH" proxy -c "$T/twice.yaml" --check >"$T/check.out" 2>&1 && fail "a replica listed twice accepted" \
    || { grep -q "listed twice" "$T/check.out" && ok "a replica listed twice: configuration error naming it" \
         || fail "twice: $(cat "$T/check.out")"; }

start_proxy server
start_proxy client

# 1. both attest
a1=$(sessions "$V1_PORT"); a2=$(sessions "$V2_PORT")
r=$(admitted 3) && ok "two attested replicas: peers admitted" || fail "two attested replicas: $r; $(tail -3 "$T/server.err")"
[ "$(( $(sessions "$V1_PORT") + $(sessions "$V2_PORT") ))" -gt "$(( a1 + a2 ))" ] && ok "evidence went to an attested replica" \
    || fail "no evidence at either replica"
log_has "verifier $U1: platform attested" && log_has "verifier $U2: platform attested" \
    && ok "each replica attested on its own" || fail "attestation lines: $(grep -c 'platform attested' "$T/server.err")"
for _ in $(seq 30); do [ "$(metric "vmesh_central_verifier_attested{url=\"$U2\"}")" = 1 ] && break; sleep 0.1; done
[ "$(metric "vmesh_central_verifier_attested{url=\"$U1\"}")" = 1 ] && [ "$(metric "vmesh_central_verifier_attested{url=\"$U2\"}")" = 1 ] \
    && ok "/metrics: vmesh_central_verifier_attested 1 for each URL" \
    || fail "metrics: $(curl -s "http://127.0.0.1:$SADMIN/metrics" | grep central_verifier_attested)"

# 2. V1 stopped: V2 serves
kill "$V1_PID"; wait "$V1_PID" 2>/dev/null
a2=$(sessions "$V2_PORT")
r=$(admitted 3) && ok "replica 1 stopped: peers admitted" || fail "replica 1 stopped: $r; $(tail -3 "$T/server.err")"
[ "$(sessions "$V2_PORT")" -gt "$a2" ] && ok "... through replica 2" || fail "replica 2 took no evidence"
sleep 2.5 # a readiness probe (poll-interval 2 s) with V1 down
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SADMIN/ready")" = 200 ] \
    && ok "/ready 200 while one replica attests and answers" || fail "/ready: $(curl -s "http://127.0.0.1:$SADMIN/ready")"
[ "$(metric "vmesh_central_verifier_reachable{url=\"$U1\"}")" = 0 ] && [ "$(metric "vmesh_central_verifier_reachable{url=\"$U2\"}")" = 1 ] \
    && ok "/metrics: vmesh_central_verifier_reachable 0 for the stopped replica, 1 for the other" \
    || fail "reachable: $(curl -s "http://127.0.0.1:$SADMIN/metrics" | grep central_verifier_reachable)"

# 3. V1 back; V2 on an unendorsed platform with another EAR key
px_start_verifier v1 "$T/ear.pem" verifier-workload "$V1_PORT" vtls
restart_v v2 "$T/ear2.pem" verifier-evil-workload "$V2_PORT" vtls2
log_has "central verifier replica $U2 does not attest" 100 && ok "server log: replica 2 does not attest" \
    || fail "no replica line: $(grep -i "$U2" "$T/server.err" | tail -3)"
a1=$(sessions "$V1_PORT"); a2=$(sessions "$V2_PORT")
r=$(admitted 4) && ok "replica 2 unendorsed (another EAR key): peers admitted" || fail "replica 2 unendorsed: $r; $(tail -3 "$T/server.err")"
sleep 2.2 # more attest-recheck periods: the refusal is judged again, not logged again
r=$(admitted 2) || fail "replica 2 unendorsed, later: $r"
[ "$(sessions "$V2_PORT")" = "$a2" ] && ok "unendorsed replica: no evidence sent to it" \
    || fail "unendorsed replica took evidence ($a2 -> $(sessions "$V2_PORT"))"
[ "$(sessions "$V1_PORT")" -gt "$a1" ] && ok "... the attested replica 1 took it" || fail "replica 1 took no evidence"
n=$(grep -c "verifier $U2: its platform is not endorsed.*; no evidence is sent to it" "$T/server.err")
[ "$n" = 1 ] && ok "the refusal is logged once (judged again every second)" || fail "refusal logged $n times"
[ "$(metric "vmesh_central_verifier_attested{url=\"$U2\"}")" = 0 ] && [ "$(metric "vmesh_central_verifier_attested{url=\"$U1\"}")" = 1 ] \
    && ok "/metrics: replica 2 attested 0, replica 1 attested 1" \
    || fail "metrics: $(curl -s "http://127.0.0.1:$SADMIN/metrics" | grep central_verifier_attested)"

# 4. V2 unendorsed holding the shared EAR key: the key is no longer trusted
: > "$T/hold.out"
python3 "$T/echo.py" admit-hold "$OUT_PORT" "$T/hold.out" &
HOLD_PID=$!; px_pids+=("$HOLD_PID")
for _ in $(seq 200); do [ -s "$T/hold.out" ] && break; sleep 0.1; done
grep -q admitted "$T/hold.out" && ok "a connection admitted through replica 1 (held)" || fail "hold: $(cat "$T/hold.out")"
restart_v v2 "$T/ear.pem" verifier-evil-workload "$V2_PORT" vtls2
for _ in $(seq 300); do grep -q closed "$T/hold.out" && break; sleep 0.1; done
grep -q closed "$T/hold.out" && ok "a refused replica holds the shared EAR key: the connection its results admitted is closed" \
    || fail "shared key: the held connection stayed open; $(grep -iE 'central|taint|same EAR' "$T/server.err" | tail -3)"
log_has "attests the same EAR key" && ok "server log: the key is untrusted, the refused replica named" \
    || fail "no same-key line: $(grep -i 'central' "$T/server.err" | tail -3)"
log_has "central verifier $U1 no longer attests" && ok "server log: the central verifier no longer attests" \
    || fail "no whole-verifier line"
a1=$(sessions "$V1_PORT"); a2=$(sessions "$V2_PORT")
r=$(once)
[ "$r" != ok ] && ok "shared key untrusted: a new peer is refused ($r)" || fail "shared key untrusted: admitted"
log_has "ear-untrusted" && ok "... with ear-untrusted" || fail "no ear-untrusted: $(grep -i refus "$T/server.err" | tail -2)"
[ "$(sessions "$V1_PORT")" = "$a1" ] && [ "$(sessions "$V2_PORT")" = "$a2" ] \
    && ok "shared key untrusted: no evidence to either replica" || fail "evidence sent while the key is untrusted"
restart_v v2 "$T/ear.pem" verifier-workload "$V2_PORT" vtls2
log_has "central verifier $U1 attests again" 300 && ok "replica 2 endorsed again: the verifier attests again" \
    || fail "not trusted again: $(grep -i 'central' "$T/server.err" | tail -3)"
for _ in $(seq 10); do r=$(once); [ "$r" = ok ] && break; sleep 0.5; done
[ "$r" = ok ] && ok "replica 2 endorsed again: admitted again" || fail "after the shared-key refusal: $r"

# 4b. a silent replica (SIGSTOP: it accepts and never answers, also not
# its attestation): the others serve; no handshake waits on its link
kill -STOP "$V1_PID"
sleep 1.2 # its attestation is due again (attest-recheck 1 s)
a2=$(sessions "$V2_PORT")
t0=$(date +%s%N)
r=$(admitted 5) && ok "replica 1 silent: 5 peers admitted in $(( ($(date +%s%N) - t0) / 1000000 )) ms (handshake timeout 5 s each)" \
    || fail "replica 1 silent: $r; $(grep -iE 'central|verifier' "$T/server.err" | tail -3)"
[ "$(sessions "$V2_PORT")" -gt "$a2" ] && ok "... through replica 2" || fail "replica 2 took no evidence while replica 1 was silent"
kill -CONT "$V1_PID"

# 5. both refused: their workload revoked at the relying party
cp "$T/verifier-rv.revoked.json" "$T/verifier-rv.active.json"
log_has "none of the 2 verifier URLs attests" 100 && ok "both refused: the verifier no longer attests" \
    || fail "both refused: $(grep -i 'central' "$T/server.err" | tail -3)"
a1=$(sessions "$V1_PORT"); a2=$(sessions "$V2_PORT")
r=$(once)
[ "$r" != ok ] && ok "both refused: a new peer is refused ($r)" || fail "both refused: admitted"
[ "$(sessions "$V1_PORT")" = "$a1" ] && [ "$(sessions "$V2_PORT")" = "$a2" ] \
    && ok "both refused: no evidence to either replica" || fail "both refused: evidence sent"
wait_not_ready "$SADMIN" "central verifier" 15 && ok "both refused: /ready 503 naming the central verifier" \
    || fail "both refused: /ready $(curl -s "http://127.0.0.1:$SADMIN/ready")"
cp "$T/verifier-rv.json" "$T/verifier-rv.active.json"
for _ in $(seq 20); do r=$(once); [ "$r" = ok ] && break; sleep 0.5; done
[ "$r" = ok ] && ok "reference values restored: admitted again" || fail "restored: $r"

# 7. the replicas judged by the RVP's snapshot (attested: true, no
# verifier-rv; D39): each link re-attests at the new snapshot; the
# verifier workload revoked by `rvp publish` refuses both replicas (holding
# the shared key): the held connection is closed, new peers refused
"$VMESH" keygen --type ec-p256 -o "$T/rvp.pem" --pub "$T/rvp.pub" >/dev/null || fail "rvp keygen"
mkdir -p "$T/rvin" "$T/rvweb"
cp "$T/verifier-rv.json" "$T/rvin/verifier-rv.json"
"$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --out "$T/rvweb" --name acme >/dev/null || fail "publish epoch 1"
RVP_PORT=$(free_port)
"$VMESH" rvp serve --root "$T/rvweb" --listen "127.0.0.1:$RVP_PORT" >"$T/rvp.out" 2>"$T/rvp.err" &
px_pids+=($!)
wait_port "$RVP_PORT" || fail "rvp serve did not start"
sed "s|^  rv-files: .*|  rvps: [ { name: acme, url: \"http://127.0.0.1:$RVP_PORT\", key: $T/rvp.pub, schemes: [ psa ] } ]\n  poll-interval: 2s\n  state-dir: $T/server-state7\n  central: { url: \"$U1\", replicas: [ \"$U2\" ], key: $T/ear.pub, attested: true, cache: 1h, attest-recheck: 1h }|" \
    "$T/server.base.yaml" > "$T/server.yaml"
grep -q "attested: true" "$T/server.yaml" || fail "server config rewrite (7)"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
: > "$T/server.err"; : > "$T/server-access.log"
start_proxy server
kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null
: > "$T/hold7.out"
python3 "$T/echo.py" admit-hold "$OUT_PORT" "$T/hold7.out" &
HOLD_PID=$!; px_pids+=("$HOLD_PID")
for _ in $(seq 200); do [ -s "$T/hold7.out" ] && break; sleep 0.1; done
grep -q admitted "$T/hold7.out" && ok "replicas attested under the RVP's snapshot: admitted (connection held)" \
    || fail "RVP (7): $(cat "$T/hold7.out"); $(grep -iE 'verifier|refused' "$T/server.err" | tail -3)"
log_has "verifier $U1: platform attested" && log_has "verifier $U2: platform attested" \
    && ok "both replicas attested under the snapshot" || fail "RVP (7): attestation lines"
cp "$T/verifier-rv.revoked.json" "$T/rvin/verifier-rv.json"
t0=$(date +%s.%N)
"$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --out "$T/rvweb" >/dev/null || fail "publish epoch 2"
for _ in $(seq 300); do grep -q closed "$T/hold7.out" && break; sleep 0.1; done
grep -q closed "$T/hold7.out" \
    && ok "verifier workload revoked at the RVP: the held connection closed $(awk -v t0="$t0" '/closed/ { printf "%.1f", $2 - t0 }' "$T/hold7.out") s after rvp publish (poll-interval 2 s, attest-recheck 1 h)" \
    || fail "revoked at the RVP: the held connection stayed open"
a1=$(sessions "$V1_PORT"); a2=$(sessions "$V2_PORT")
r=$(once)
[ "$r" != ok ] && ok "revoked at the RVP: a new peer is refused ($r)" || fail "revoked at the RVP: admitted"
[ "$(sessions "$V1_PORT")" = "$a1" ] && [ "$(sessions "$V2_PORT")" = "$a2" ] \
    && ok "revoked at the RVP: no evidence to either replica" || fail "revoked at the RVP: evidence sent"
cp "$T/verifier-rv.json" "$T/rvin/verifier-rv.json"
"$VMESH" rvp publish --key "$T/rvp.pem" --in "$T/rvin" --out "$T/rvweb" >/dev/null || fail "publish epoch 3"
log_has "central verifier $U1 attests again" 300 || fail "RVP (7): no attests-again line"
for _ in $(seq 20); do r=$(once); [ "$r" = ok ] && break; sleep 0.5; done
[ "$r" = ok ] && ok "endorsed again at the RVP: admitted again" || fail "RVP restored: $r"

stop_proxy server
stop_proxy client
for l in v1 v2; do
    grep -qE "LeakSanitizer|AddressSanitizer|runtime error" "$T/$l.log" && fail "verifier $l: sanitizer report"
done
finish
