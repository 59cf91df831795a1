#!/usr/bin/env bash
# Re-attestation on open connections through `vmesh server` / `vmesh client`
# (real processes on 127.0.0.1, psa-sim platforms, the epoch bell):
#  0. a client that loads the bell right after a ring accepts a server bound
#     to the previous tick (carried in the marker), not one two ticks behind;
#  1. a connection kept open across 3 new ticks of the bell (rung every 2 s)
#     re-attests the server 3 times while echo traffic flows every 20 ms (the
#     client prints the largest gap between echoes: printed, not judged);
#  2. the server's measured workload file changes mid-connection: the next
#     re-attestation is not affirming and the client cuts the connection,
#     both sides name the reason;
#  3. a server that stops answering (SIGSTOP) is cut at the request deadline.
. "$(dirname "$0")/lib.bash"
cd "$T"
"$VMESH" ca init --trust-domain example.org --out ca >/dev/null || { echo "ca init failed"; exit 1; }
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/server --out srv >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/client --out cli >/dev/null
for k in srv-iak cli-iak bell; do "$VMESH" keygen -o $k.pem --pub $k.pub >/dev/null; done
Z=$(head -c 32 /dev/zero | base64 -w0)
IMPL=$(printf 'vmesh-test-implementation-id-001' | base64 -w0)
cat > claims.json <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$IMPL", "psa-boot-seed": "$Z", "psa-nonce": "$Z",
  "psa-software-components": [ { "measurement-type": "workload", "measurement-value": "$Z", "signer-id": "$Z" } ] }
JSON
echo "genuine workload" > workload
cp workload live-workload
pem() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
cat > rv.json <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$IMPL",
  "measurements": [ { "name": "workload", "digest": { "alg": "sha-256", "value": "$(sha256sum workload | cut -d' ' -f1)" } } ],
  "keys": [ $(pem srv-iak.pub), $(pem cli-iak.pub) ] } ] }
JSON
mkdir www && "$VMESH" rvp tick --key bell.pem --out www
COMMON=(--bundle ca/bundle.pem --claims claims.json --rv rv.json --bell www/bell.cwt --bell-key bell.pub --reattest)
PORT=$(free_port)
start_server() { # extra server args...
    : > server.log
    "$VMESH" server --listen 127.0.0.1:$PORT --cert srv-chain.pem --key srv.key --iak srv-iak.pem \
        --measure workload=live-workload "${COMMON[@]}" "$@" 2>server.log &
    SERVER=$!
    cleanup_hooks+=("kill -CONT $SERVER 2>/dev/null; kill $SERVER 2>/dev/null")
    for i in $(seq 100); do grep -q listening server.log 2>/dev/null && break; sleep 0.1; done
}
stop_server() { kill -CONT $SERVER 2>/dev/null; kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; }
start_client() { # extra client args...; stderr in client.log
    : > client.log
    "$VMESH" client --connect 127.0.0.1:$PORT --cert cli-chain.pem --key cli.key --iak cli-iak.pem \
        --measure workload=workload "${COMMON[@]}" --message "ping-0123456789" "$@" >client.out 2>client.log &
    CLIENT=$!
    cleanup_hooks+=("kill $CLIENT 2>/dev/null")
}
# wait_log FILE PATTERN [COUNT]: until FILE has COUNT lines matching (60 s bound)
wait_log() { local n=${3:-1}; for i in $(seq 600); do [ "$(grep -cE "$2" "$1" 2>/dev/null)" -ge "$n" ] && return 0; sleep 0.1; done; return 1; }

# 0. a relying party that loads the bell for the first time right after a
#    ring (here the client: first load at tick 2) accepts a peer whose
#    evidence is bound to the previous tick (the server reads a copy that
#    stayed at tick 1): the marker carries the previous tick, under its
#    signature. A peer two ticks behind is refused. No timing involved.
mkdir www-old && cp www/bell.cwt www-old/
"$VMESH" rvp tick --key bell.pem --out www # tick 2, carrying tick 1
"$VMESH" rvp tick --show www/bell.cwt --key bell.pub | grep -q '"tick":2,.*"prev":{"tick":1,.*"verified":true' \
    && ok "tick 2 carries tick 1" || fail "marker: $("$VMESH" rvp tick --show www/bell.cwt --key bell.pub)"
start_server --attest-mode epoch-fresh --bell www-old/bell.cwt
start_client --attest-mode epoch-fresh
wait $CLIENT; rc=$?
[ $rc -eq 0 ] && ok "client at its first tick 2 accepts a server bound to tick 1" || fail "client exit $rc: $(tail -5 client.log)"
grep -q 'mode=epoch-fresh tier=affirming' client.log && ok "server epoch-fresh, affirming" || fail "client: $(tail -3 client.log)"
"$VMESH" rvp tick --key bell.pem --out www # tick 3, carrying tick 2
start_client --attest-mode epoch-fresh
wait $CLIENT; rc=$?
[ $rc -eq 2 ] && ok "a peer two ticks behind is refused (exit 2)" || fail "client exit $rc: $(tail -5 client.log)"
grep -qE 'stale-epoch|stale epoch' client.log && ok "named: $(grep -oE 'stale[- ]epoch[^(]*' client.log | head -1)" || fail "client: $(tail -3 client.log)"
stop_server

# 1. the bell rings every 2 s; the client asks the server at each new tick
#    and stops after 3 rounds, echo traffic every 20 ms throughout
"$VMESH" rvp tick --key bell.pem --out www --every 2 2>ticker.log &
TICKER=$!
cleanup_hooks+=("kill $TICKER 2>/dev/null")
start_server --attest-mode epoch-fresh
start_client --attest-mode epoch-fresh --hold-ms 60000 --interval-ms 20 --reattest-on-tick --reattest-rounds 3
wait $CLIENT; rc=$?
kill $TICKER; wait $TICKER 2>/dev/null
[ $rc -eq 0 ] && ok "held connection ended cleanly after 3 rounds" || fail "client exit $rc: $(tail -5 client.log)"
[ "$(grep -c 're-attested (round' client.log)" = 3 ] && ok "3 re-attestations on one connection" || fail "rounds: $(grep -c 're-attested (round' client.log)"
[ "$(grep -c 'mode=epoch-fresh tier=affirming in' client.log)" = 3 ] && ok "each round affirming" || fail "not all rounds affirming"
grep -q "peer re-attested 3 times" client.log && ok "summary counts 3 rounds" || fail "summary: $(grep held client.log)"
[ "$(cat client.out)" = "" ] && ok "held mode prints no echo" || fail "stdout: $(head -c 100 client.out)"
echo "numbers: $(grep 'held' client.log)"
grep 're-attested (round' client.log | sed 's/^/numbers: /'
[ "$(grep -c 'peer spiffe://example.org/client mode=' server.log)" = 1 ] && ok "one handshake for all rounds" || fail "server saw $(grep -c 'peer spiffe' server.log) handshakes"
stop_server
"$VMESH" rvp tick --key bell.pem --out www # a fresh tick valid for the next 2 minutes

# 2. the server's workload changes mid-connection: cut at the next round
cp workload live-workload
start_server --attest-mode fresh
start_client --attest-mode fresh --hold-ms 120000 --interval-ms 20 --reattest-every 400
wait_log client.log "re-attested \(round 1\)" || { fail "no first round: $(tail -3 client.log)"; kill $CLIENT; }
echo "tampered workload" > live-workload
wait $CLIENT; rc=$?
[ $rc -eq 2 ] && ok "client cut the server after its measurement changed (exit 2)" || fail "client exit $rc: $(tail -5 client.log)"
grep -q "re-attestation failed: not-affirming" client.log && ok "client names not-affirming" || fail "client reason: $(tail -3 client.log)"
grep -q "we refused the peer" client.log && ok "the client did the cutting" || fail "who cut: $(tail -2 client.log)"
wait_log server.log "re-attestation failed: not-affirming.*refused by the peer" && ok "server told why it was cut" || fail "server log: $(tail -3 server.log)"
stop_server
cp workload live-workload

# 3. a server that stops answering is cut at the deadline
start_server --attest-mode fresh
start_client --attest-mode fresh --hold-ms 120000 --interval-ms 20 --reattest-every 300 --reattest-deadline-ms 700
wait_log client.log "re-attested \(round 1\)" || { fail "no first round: $(tail -3 client.log)"; kill $CLIENT; }
kill -STOP $SERVER
t0=$(date +%s%N)
wait $CLIENT; rc=$?
t1=$(date +%s%N)
[ $rc -eq 2 ] && ok "silent server cut (exit 2)" || fail "client exit $rc: $(tail -5 client.log)"
grep -q "re-attestation failed: timeout: the peer did not answer re-attestation request .* within 700 ms" client.log \
    && ok "client names the deadline" || fail "client reason: $(tail -3 client.log)"
echo "numbers: cut $(( (t1 - t0) / 1000000 )) ms after SIGSTOP (requests every 300 ms, deadline 700 ms)"
kill -CONT $SERVER
# Resumed, the server either reads the timeout frame first, writes its
# backlog of echoes into the closed socket first, or finds the socket reset
# by the client's exit (unread echoes in its buffer); each ends its connection.
wait_log server.log "refused by the peer|connection failed|connection ended" && ok "server ends the connection once it runs again" || fail "server: $(tail -3 server.log)"
echo "numbers: server after SIGCONT: $(tail -1 server.log)"
kill -0 $SERVER && ok "server still serving" || fail "server died"
stop_server
finish
