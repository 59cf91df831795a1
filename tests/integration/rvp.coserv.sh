#!/usr/bin/env bash
# CoSERV (draft-ietf-rats-coserv-07) from `vmesh rvp serve --coserv-key`:
# the discovery document (JSON and CBOR), reference-value and trust-anchor
# queries by class, instance and group selector queried with curl, signed
# result sets (COSE_Sign1, content type application/coserv+cbor), HTTP
# caching bounded by the result set's expiry, and each bad query refused with
# a named concise problem detail.
. "$(dirname "$0")/lib.bash"
cd "$T"

"$VMESH" keygen --type ec-p256 -o rvp.pem --pub rvp.pub >/dev/null || exit 1
"$VMESH" keygen --type ec-p256 -o iak.pem --pub iak.pub >/dev/null
"$VMESH" keygen --type ec-p256 -o iak2.pem --pub iak2.pub >/dev/null
"$VMESH" keygen --type ec-p256 -o other.pem --pub other.pub >/dev/null
printf 'firmware\n' >firmware
printf 'workload v1\n' >workload
IMPL_TEXT=vmesh-test-implementation-id-001
IMPL=$(printf '%s' "$IMPL_TEXT" | base64 -w0)
INST_HEX=01$(printf 'instance' | sha256sum | cut -d' ' -f1)
pem_json() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
mkdir -p in www
cat >in/rv.json <<JSON
{ "format": "vmesh-rv/1", "reference-values": [
  { "scheme": "psa", "class-id": "$IMPL",
    "measurements": [
      { "name": "BL", "digest": { "alg": "sha-256", "value": "$(sha256sum firmware | cut -d' ' -f1)" } },
      { "name": "workload", "digest": { "alg": "sha-256", "value": "$(sha256sum workload | cut -d' ' -f1)" } } ],
    "keys": [ $(pem_json iak.pub) ] },
  { "scheme": "psa", "class-id": "$IMPL", "instance-id": {"hex": "$INST_HEX"},
    "keys": [ $(pem_json iak2.pub) ] } ] }
JSON
"$VMESH" rvp publish --key rvp.pem --in in --out www --validity 3600 >/dev/null || { echo "publish failed"; exit 1; }

start_serve() {
    "$VMESH" rvp serve --root www --listen "127.0.0.1:${1:-0}" --coserv-key rvp.pem >serve.out 2>serve.err &
    SERVER=$!
    cleanup_hooks+=("kill $SERVER 2>/dev/null")
    for _ in $(seq 50); do grep -q "listening on" serve.out 2>/dev/null && break; sleep 0.1; done
    PORT=$(awk '/listening on/ {print $3}' serve.out)
    [ -n "$PORT" ] || { echo "server did not start: $(cat serve.err)"; exit 1; }
    U="http://127.0.0.1:$PORT"
}
start_serve

# CBOR by hand (hex): a query {0: profile, 1: {0: artifact, 1: selector, 2: 0}}
hexof() { printf '%s' "$1" | xxd -p -c 1000; }
tstr() { local h; h=$(hexof "$1"); printf '%02x%s' $((0x60 + ${#1})) "$h"; } # < 24 bytes
tstr8() { local h; h=$(hexof "$1"); printf '78%02x%s' "${#1}" "$h"; }        # 24..255 bytes
PROFILE="tag:vmesh.dev,2026:psa"
CLASS_SEL="a1008181a100d902305820$(hexof "$IMPL_TEXT")"      # {0: [[{0: 560(impl id)}]]}
INST_SEL="a1018181d9022658$(printf '%02x' $((${#INST_HEX} / 2)))$INST_HEX" # {1: [[550(ueid)]]}
GROUP_SEL="a1028181d8255000112233445566778899aabbccddeeff"     # {2: [[37(uuid)]]}
query_hex() { printf 'a200%s01a300%02x01%s0200' "$(tstr "${3:-$PROFILE}")" "$1" "$2"; } # artifact selector [profile]
b64u() { xxd -r -p | base64 -w0 | tr '+/' '-_' | tr -d '='; }
ACCEPT="Accept: application/coserv+cose; profile=\"$PROFILE\""

# ---- discovery
curl -s -D h.disc -o disc.json "$U/.well-known/coserv-configuration"
tr -d '\r' <h.disc >h.disc2
grep -qx "Content-Type: application/coserv-discovery+json" h.disc2 && ok "discovery: JSON by default" || fail "discovery content type: $(cat h.disc2)"
[ "$(json_get disc.json "d['api-endpoints']['CoSERVRequestResponse']")" = "/coserv/{query}" ] \
    && ok "discovery: CoSERVRequestResponse endpoint ends in /{query}" || fail "discovery endpoints"
[ "$(json_get disc.json "d['capabilities'][0]['media-type']")" = "application/coserv+cose; profile=\"$PROFILE\"" ] \
    && ok "discovery: capability application/coserv+cose with the psa profile" || fail "discovery capability: $(cat disc.json)"
[ "$(json_get disc.json "d['capabilities'][0]['artifact-support']")" = "['collected']" ] \
    && ok "discovery: collected artifacts" || fail "artifact-support"
# the published key is the RVP key (same JWK x as the one we hold)
WANT_X=$("$VMESH" keygen --help >/dev/null 2>&1; python3 - rvp.pub <<'PY'
import base64,subprocess,sys
der=subprocess.run(["openssl","pkey","-pubin","-in",sys.argv[1],"-outform","DER"],capture_output=True).stdout
print(base64.urlsafe_b64encode(der[-64:-32]).decode().rstrip("="))
PY
)
[ "$(json_get disc.json "d['result-verification-key'][0]['x']")" = "$WANT_X" ] \
    && ok "discovery: result-verification-key is the RVP key" || fail "discovery key x differs"
curl -s -D h.cbor -o disc.cbor -H 'Accept: application/coserv-discovery+cbor' "$U/.well-known/coserv-configuration"
tr -d '\r' <h.cbor | grep -qx "Content-Type: application/coserv-discovery+cbor" && ok "discovery: CBOR on request" || fail "CBOR discovery type"
[ "$(head -c1 disc.cbor | xxd -p)" = a4 ] && grep -qa "CoSERVRequestResponse" disc.cbor \
    && ok "discovery CBOR: a map of 4 (version, capabilities, endpoints, COSE_Key set)" || fail "discovery CBOR body"
code() { curl -s -o "${BODY:-/dev/null}" -w '%{http_code}' "$@"; }
[ "$(code -H 'Accept: text/html' "$U/.well-known/coserv-configuration")" = 406 ] \
    && ok "discovery: 406 for another media type" || fail "discovery Accept text/html not refused"

# ---- queries: each kind
get() { # name artifact selector -> $name.bin, $name.h
    local b; b=$(query_hex "$2" "$3" | b64u)
    curl -s -D "$1.h0" -o "$1.bin" -H "$ACCEPT" "$U/coserv/$b"; tr -d '\r' <"$1.h0" >"$1.h"
    echo "$b" >"$1.q"
}
check_signed() { # name what
    if head -1 "$1.h" | grep -q " 200" && grep -qx "Content-Type: application/coserv+cose; profile=\"$PROFILE\"" "$1.h" \
        && [ "$(head -c1 "$1.bin" | xxd -p)" = d2 ] && grep -qa "application/coserv+cbor" "$1.bin"; then
        ok "$2: 200, application/coserv+cose with the profile, a tagged COSE_Sign1 (cty application/coserv+cbor)"
    else fail "$2: $(head -1 "$1.h") $(grep -i content-type "$1.h")"; fi
}
get rvclass 2 "$CLASS_SEL"
check_signed rvclass "reference values by class"
grep -qa "workload" rvclass.bin && grep -qa "BL" rvclass.bin && ok "reference values by class: both measurements" || fail "rv class lacks measurements"
get taclass 1 "$CLASS_SEL"
check_signed taclass "trust anchors by class"
[ "$(grep -ac "BEGIN PUBLIC KEY" taclass.bin)" -ge 2 ] && ok "trust anchors by class: the class key and the instance key" || fail "ta class keys"
get tainst 1 "$INST_SEL"
check_signed tainst "trust anchors by instance"
IAK2_B64=$(sed -n 2p iak2.pub | head -c 40)
IAK_B64=$(sed -n 2p iak.pub | head -c 40)
grep -qa "$IAK2_B64" tainst.bin && ! grep -qa "$IAK_B64" tainst.bin \
    && ok "trust anchors by instance: only that instance's key" || fail "ta instance keys"
get group 2 "$GROUP_SEL"
check_signed group "reference values by group"
get rvinst 2 "$INST_SEL"
check_signed rvinst "reference values by instance"

# ---- caching: freshness bounded by the expiry; the same query, the same bytes
MAXAGE=$(sed -n 's/^Cache-Control: public, max-age=\([0-9]*\)$/\1/p' rvclass.h)
[ -n "$MAXAGE" ] && [ "$MAXAGE" -le 3600 ] && [ "$MAXAGE" -gt 0 ] \
    && ok "Cache-Control max-age=$MAXAGE, within the result set's expiry (manifest validity 3600 s)" || fail "Cache-Control: $(grep -i cache rvclass.h)"
ETAG=$(sed -n 's/^ETag: //p' rvclass.h)
get rvclass2 2 "$CLASS_SEL"
cmp -s rvclass.bin rvclass2.bin && ok "a repeated query gets the same signed bytes (served from the answer cache)" || fail "answers differ"
[ "$(code -H "$ACCEPT" -H "If-None-Match: $ETAG" "$U/coserv/$(cat rvclass.q)")" = 304 ] && ok "If-None-Match -> 304" || fail "no 304"
grep -qx "Vary: Accept" rvclass.h && ok "Vary: Accept" || fail "Vary"

# ---- errors, each named
problem() { # want-code title-substring description curl-args...
    local want=$1 title=$2 what=$3; shift 3
    local got; got=$(BODY=prob.bin code "$@")
    if [ "$got" = "$want" ] && grep -qa "$title" prob.bin; then ok "$what: $got \"$title\""
    else fail "$what: $got, expected $want \"$title\": $(strings prob.bin | head -3)"; fi
}
problem 400 "Query validation failed" "not base64url" -H "$ACCEPT" "$U/coserv/a+b/c"
problem 400 "Query validation failed" "base64url of something that is not CBOR" -H "$ACCEPT" "$U/coserv/$(printf 'hello' | xxd -p | b64u)"
problem 400 "Query validation failed" "two selector kinds" -H "$ACCEPT" \
    "$U/coserv/$(printf 'a200%s01a3000201a2%s%s0200' "$(tstr "$PROFILE")" "${CLASS_SEL:2}" "${GROUP_SEL:2}" | b64u)"
problem 406 "Not acceptable" "unsigned result sets are not offered" -H "Accept: application/coserv+cbor; profile=\"$PROFILE\"" "$U/coserv/$(cat rvclass.q)"
problem 406 "Unsupported profile" "a profile this provider does not serve" -H "Accept: application/coserv+cose" \
    "$U/coserv/$(query_hex 2 "$CLASS_SEL" "tag:vmesh.dev,2026:tpm2" | b64u)"
problem 406 "Unsupported profile" "Accept profile differs from the query's" \
    -H 'Accept: application/coserv+cose; profile="tag:vendor.com,2025:cc_platform#1.0.0"' "$U/coserv/$(cat rvclass.q)"
problem 400 "Query not served" "endorsed values are not served" -H "$ACCEPT" "$U/coserv/$(query_hex 0 "$CLASS_SEL" | b64u)"
BODY=prob.bin code -D prob.h -H "$ACCEPT" "$U/coserv/!!" >/dev/null
tr -d '\r' <prob.h | grep -qx "Content-Type: application/concise-problem-details+cbor" \
    && ok "errors are application/concise-problem-details+cbor" || fail "problem content type"

# ---- a bundle signed by another key is not answered for
cp -r www www-good
"$VMESH" rvp publish --key other.pem --in in --out www-other >/dev/null || fail "publish with the other key"
cp www-other/manifest.jws www/manifest.jws
problem 503 "No bundle" "manifest not signed by the CoSERV key: nothing answered" -H "$ACCEPT" "$U/coserv/$(cat rvclass.q)"
cp www-good/manifest.jws www/manifest.jws

# ---- a verifier syncs from the provider (vmesh appraise --rvp, the sync
# client a verifier runs) and admits a matching peer
"$VMESH" keygen --type ec-p384 -o verifier.pem --pub verifier.pub >/dev/null
ZERO=$(head -c 32 /dev/zero | base64 -w0)
claims() { # impl-id (base64)
cat <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1,
  "psa-security-lifecycle": 12288, "psa-implementation-id": "$1",
  "psa-boot-seed": "$ZERO", "psa-nonce": "$ZERO",
  "psa-software-components": [
    { "measurement-type": "BL", "measurement-value": "$ZERO", "signer-id": "$ZERO" } ] }
JSON
}
claims "$IMPL" >claims.json
claims "$(printf 'vmesh-test-implementation-id-999' | base64 -w0)" >claims-other.json
NONCE=$(openssl rand -hex 32)
attest() { "$VMESH" attest psa --iak "$1" --claims "$2" --measure BL=firmware --measure workload="$3" --nonce "$NONCE" -o "$4"; }
attest iak.pem claims.json workload good.cose || fail "attest"
printf 'workload v2 (not published)\n' >workload2
attest iak.pem claims.json workload2 unknown-workload.cose
attest iak.pem claims-other.json workload other-class.cose
CLASSHEX=$(hexof "$IMPL_TEXT")
SPEC="acme,coserv+$U,rvp.pub,psa,$CLASSHEX"
appraise() { # state spec evidence
    "$VMESH" appraise --rvp "$2" --state "$1" --evidence "$3" --nonce "$NONCE" --key verifier.pem -o "$1.ear"
}
expect_exit 0 "verifier synced from CoSERV (signed RVs + IAK) admits the matching peer" -- appraise s1 "$SPEC" good.cose
"$VMESH" ear verify --key verifier.pub s1.ear >/dev/null && ok "its EAR verifies (affirming)" || fail "EAR"
expect_exit 2 "a peer whose workload the provider does not hold is not admitted" -- appraise s2 "$SPEC" unknown-workload.cose
expect_stderr "workload"
expect_exit 2 "a peer of a class the provider does not hold is not admitted" -- appraise s3 "$SPEC" other-class.cose
expect_exit 1 "provider key configured wrong: the signed result sets are refused" -- \
    appraise s4 "acme,coserv+$U,other.pub,psa,$CLASSHEX" good.cose
expect_stderr "does not verify with the provider key"
expect_exit 1 "a class the provider holds nothing for: refused by name" -- \
    appraise s5 "acme,coserv+$U,rvp.pub,psa,$(hexof nothing-here)" good.cose
expect_stderr "holds neither reference values nor trust anchors"
expect_exit 1 "a CoSERV source without class ids is a configuration error" -- appraise s6 "acme,coserv+$U,rvp.pub,psa" good.cose
expect_stderr "coserv\+URL,KEY,SCHEME,CLASSHEX"

# provider restart: the same port, the verifier gets answers again
kill "$SERVER"; wait "$SERVER" 2>/dev/null
expect_exit 1 "provider down: nothing to appraise with (no snapshot yet)" -- appraise s7 "$SPEC" good.cose
start_serve "$PORT"
expect_exit 0 "provider restarted: admitted again" -- appraise s7 "$SPEC" good.cose

# ---- hostile providers: a fake server answers every query with FILE
cat >fake.py <<'PY'
import http.server, sys
body = open(sys.argv[1], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/coserv+cose")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
fake() { # file -> FAKE_U
    python3 fake.py "$1" >fake.port &
    FAKE=$!
    cleanup_hooks+=("kill $FAKE 2>/dev/null")
    for _ in $(seq 50); do [ -s fake.port ] && break; sleep 0.1; done
    FAKE_U="http://127.0.0.1:$(cat fake.port)"
}
stop_fake() { kill "$FAKE" 2>/dev/null; wait "$FAKE" 2>/dev/null; rm -f fake.port; }
# the real answer to the consumer's own reference-value query, then altered
RVQ=$(python3 - "$CLASSHEX" <<'PY'
import sys
cls = bytes.fromhex(sys.argv[1]); prof = b"tag:vmesh.dev,2026:psa"
q = b"\xa2\x00" + bytes([0x60 + len(prof)]) + prof + b"\x01\xa3\x00\x02\x01\xa1\x00\x81\x81\xa1\x00\xd9\x02\x30\x58" + bytes([len(cls)]) + cls + b"\x02\x00"
print(q.hex())
PY
)
curl -s -o real.bin -H "$ACCEPT" "$U/coserv/$(echo "$RVQ" | b64u)"
[ "$(head -c1 real.bin | xxd -p)" = d2 ] && ok "fetched the signed answer to the consumer's query" || fail "real answer"
cp real.bin tampered.bin
printf 'X' | dd of=tampered.bin bs=1 seek=$(( $(stat -c %s real.bin) - 80 )) conv=notrunc 2>/dev/null
fake tampered.bin
expect_exit 1 "a tampered result set is refused" -- appraise s8 "acme,coserv+$FAKE_U,rvp.pub,psa,$CLASSHEX" good.cose
expect_stderr "result set refused: .*does not verify"
stop_fake
echo "$RVQ" | xxd -r -p >unsigned.bin
fake unsigned.bin
expect_exit 1 "an unsigned result set is refused" -- appraise s9 "acme,coserv+$FAKE_U,rvp.pub,psa,$CLASSHEX" good.cose
expect_stderr "unsigned result set"
stop_fake
fake taclass.bin
expect_exit 1 "a signed answer to another query (replayed) is refused" -- \
    appraise s10 "acme,coserv+$FAKE_U,rvp.pub,psa,$CLASSHEX" good.cose
expect_stderr "another query"
stop_fake
# an expired, validly signed answer: a bundle valid for 2 s, answered, then replayed after it expired
kill "$SERVER"; wait "$SERVER" 2>/dev/null
"$VMESH" rvp publish --key rvp.pem --in in --out www --validity 8 >/dev/null
start_serve
curl -s -o short.bin -H "$ACCEPT" "$U/coserv/$(echo "$RVQ" | b64u)"
[ "$(head -c1 short.bin | xxd -p)" = d2 ] && ok "an answer from a bundle valid for 8 s" || fail "short-lived answer: $(strings short.bin | head -2)"
# wait (no fixed sleep) until the provider itself says the bundle expired
for _ in $(seq 100); do
    [ "$(code -H "$ACCEPT" "$U/coserv/$(echo "$RVQ" | b64u)")" = 503 ] && break
    sleep 0.2
done
fake short.bin
expect_exit 1 "an expired result set is refused" -- appraise s11 "acme,coserv+$FAKE_U,rvp.pub,psa,$CLASSHEX" good.cose
expect_stderr "expired"
stop_fake
problem 503 "Bundle expired" "the provider does not answer from an expired bundle" -H "$ACCEPT" "$U/coserv/$(echo "$RVQ" | b64u)"
kill "$SERVER"; wait "$SERVER" 2>/dev/null

expect_exit 1 "serve refuses a public --coserv-key" -- "$VMESH" rvp serve --root www --listen 127.0.0.1:0 --coserv-key rvp.pub
expect_stderr "private key"
finish
