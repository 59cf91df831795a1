#!/usr/bin/env bash
# The attested channel through `vmesh server` and `vmesh client` (real
# processes on 127.0.0.1): every mode with resumption, a measurement that
# does not match, a legacy peer without the 0xff4d extension, and a plain
# `openssl s_client`, each with the outcome and reason the CLI contract says.
. "$(dirname "$0")/lib.bash"
cd "$T"
"$VMESH" ca init --trust-domain example.org --out ca >/dev/null || { echo "ca init failed"; exit 1; }
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/server --out srv >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/client --out cli >/dev/null
for k in srv-iak cli-iak bell ear; do "$VMESH" keygen -o $k.pem --pub $k.pub >/dev/null; done
Z=$(head -c 32 /dev/zero | base64 -w0)
IMPL=$(printf 'vmesh-test-implementation-id-001' | base64 -w0)
cat > claims.json <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$IMPL", "psa-boot-seed": "$Z", "psa-nonce": "$Z",
  "psa-software-components": [ { "measurement-type": "workload", "measurement-value": "$Z", "signer-id": "$Z" } ] }
JSON
echo "genuine workload" > workload
echo "tampered workload" > bad-workload
pem() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
cat > rv.json <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$IMPL",
  "measurements": [ { "name": "workload", "digest": { "alg": "sha-256", "value": "$(sha256sum workload | cut -d' ' -f1)" } } ],
  "keys": [ $(pem srv-iak.pub), $(pem cli-iak.pub) ] } ] }
JSON
mkdir www && "$VMESH" rvp tick --key bell.pem --out www
COMMON=(--bundle ca/bundle.pem --claims claims.json --rv rv.json --bell www/bell.cwt --bell-key bell.pub
        --passport-key ear.pem --trust-verifier ear.pub)
PORT=$(free_port)
start_server() { # extra server args...
    "$VMESH" server --listen 127.0.0.1:$PORT --cert srv-chain.pem --key srv.key --iak srv-iak.pem \
        --measure workload=workload "${COMMON[@]}" "$@" 2>server.log &
    SERVER=$!
    cleanup_hooks+=("kill $SERVER 2>/dev/null")
    for i in $(seq 50); do grep -q listening server.log 2>/dev/null && break; sleep 0.1; done
}
stop_server() { kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; }
client() { "$VMESH" client --connect 127.0.0.1:$PORT --cert cli-chain.pem --key cli.key --iak cli-iak.pem "${COMMON[@]}" "$@"; }

start_server
for mode in epoch-fresh fresh passport; do
    expect_exit 0 "mutual attestation, client in $mode mode, resumed once" -- \
        client --measure workload=workload --attest-mode $mode --message "hello $mode" --resume 1
    [ "$(cat "$T/out")" = "hello ${mode}hello ${mode}" ] && ok "$mode: echo intact on both sessions" || fail "$mode: echo was '$(cat "$T/out")'"
    grep -q "resumed=yes" "$T/err" && ok "$mode: second session resumed" || fail "$mode: no resumption"
    [ "$(grep -c 'peer spiffe://example.org/server mode=' "$T/err")" = 2 ] && ok "$mode: server attested on both sessions" || fail "$mode: server not attested twice"
    grep -q "peer spiffe://example.org/client mode=$mode tier=affirming" server.log && ok "server saw the client in $mode" || fail "server did not see $mode"
done

expect_exit 2 "a client whose workload does not match is refused" -- \
    client --measure workload=bad-workload --attest-mode fresh --message x
expect_stderr "not-affirming"
expect_stderr "refused by the peer"

expect_exit 2 "a legacy client without 0xff4d is refused under the default policy" -- client --plain --message x
expect_stderr "unattested-refused|closed|refused"
grep -q "unattested-refused" server.log && ok "server logged unattested-refused" || fail "server did not log the reason"

# A plain openssl s_client with a valid client certificate gets no application data.
: > sclient.out
(printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1) | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -tls1_3 \
    -cert cli.pem -key cli.key -CAfile ca/bundle.pem -quiet >sclient.out 2>sclient.err
[ ! -s sclient.out ] && ok "openssl s_client got no application data" || fail "openssl s_client received: $(head -c 100 sclient.out | od -c | head -3)"
sleep 0.3
[ "$(grep -c 'unattested-refused' server.log)" -ge 2 ] && ok "server refused s_client as unattested" || fail "no refusal logged for s_client"
stop_server

start_server --allow-unattested
expect_exit 0 "the legacy client is admitted when policy allows unattested peers" -- client --plain --message legacy
[ "$(cat "$T/out")" = "legacy" ] && ok "legacy client echo" || fail "legacy echo was '$(cat "$T/out")'"
sleep 0.2
grep -q "peer spiffe://example.org/client mode=none tier=none" server.log && ok "admitted as tier none" || fail "not admitted as none: $(tail -3 server.log)"
stop_server
finish
