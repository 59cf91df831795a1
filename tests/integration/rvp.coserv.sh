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
rm -rf www && mv www-good www
kill "$SERVER"; wait "$SERVER" 2>/dev/null

expect_exit 1 "serve refuses a public --coserv-key" -- "$VMESH" rvp serve --root www --listen 127.0.0.1:0 --coserv-key rvp.pub
expect_stderr "private key"
finish
