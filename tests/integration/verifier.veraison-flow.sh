#!/usr/bin/env bash
# The Veraison challenge-response flow against `vmesh verifier serve`, driven
# with curl as a Veraison client drives it: discovery → newSession → nonce →
# PSA evidence with that nonce → 200 with an EAR that verifies under the key
# published at /.well-known → GET → DELETE; then the error cases (400, 404,
# 405, 406, 413, 415) with their problem+json bodies, a nonce mismatch, and
# a passport (Vmesh-AK: the EAR names the attestation key). Then vmesh's
# one-request appraisal (POST /vmesh/v1/appraise?nonce=, DECISIONS D42): in
# the discovery document, the EAR as the answer, each malformed request a
# named 400/405/406/413/415, and a replica started with --no-one-shot that
# serves Veraison's API only.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/verifier-lib.bash"
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

start_verifier A --key "$T/ear.pem" --rv "$T/rv.json" --max-body 200000
B="http://127.0.0.1:$PORT_A"
problem() { # problem PREFIX STATUS TITLE DETAIL-SUBSTRING
    local p=$1
    if [ "$(code "$p")" = "$2" ] && [ "$(hdr "$p" Content-Type)" = "application/problem+json" ] \
        && [ "$(json_get "$T/$p.body" "(d['type'], d['title'], d['status'])")" = "('about:blank', '$3', $2)" ] \
        && json_get "$T/$p.body" "d['detail']" | grep -qF -- "$4"; then
        ok "$p: $2 $3 problem+json: $(json_get "$T/$p.body" "d['detail']")"
    else
        fail "$p: expected $2 '$3' with detail '$4'; got $(code "$p") $(hdr "$p" Content-Type): $(cat "$T/$p.body")"
    fi
}

# ---- discovery ----------------------------------------------------------------
req wk "$B/.well-known/veraison/verification"
[ "$(code wk)" = 200 ] && [ "$(hdr wk Content-Type)" = "application/vnd.veraison.discovery+json" ] \
    && ok "well-known: 200 application/vnd.veraison.discovery+json" || fail "well-known: $(code wk) $(hdr wk Content-Type)"
[ "$(json_get "$T/wk.body" "(d['service-state'], d['ear-verification-key']['kty'], d['ear-verification-key']['crv'], d['ear-verification-key']['alg'], 'd' in d['ear-verification-key'])")" \
    = "('READY', 'EC', 'P-256', 'ES256', False)" ] && ok "well-known: READY, EAR key as a public P-256 JWK" \
    || fail "well-known body: $(cat "$T/wk.body")"
json_get "$T/wk.body" "'\n'.join(d['media-types'])" >"$T/wk.mts"
for mt in "$PSA_MT" 'application/psa-attestation-token' 'application/eat-cwt; profile="http://arm.com/psa/2.0.0"'; do
    grep -qxF "$mt" "$T/wk.mts" && ok "well-known lists $mt" || fail "well-known lacks $mt"
done
[ "$(json_get "$T/wk.body" "d['api-endpoints']['newChallengeResponseSession']")" = "$API/newSession" ] \
    && ok "well-known: api-endpoints" || fail "well-known: api-endpoints"
json_get "$T/wk.body" "__import__('json').dumps(d['ear-verification-key'])" >"$T/ear.jwk"

# ---- the happy path ------------------------------------------------------------
req ns -X POST -H "Accept: $SESSION_MT" "$B$API/newSession?nonceSize=32"
LOC=$(hdr ns Location)
[ "$(code ns)" = 201 ] && ok "newSession: 201 Created" || fail "newSession: $(code ns) $(cat "$T/ns.body")"
[[ "$LOC" =~ ^session/[A-Za-z0-9_-]+$ ]] && ok "newSession: Location $LOC" || fail "newSession: Location '$LOC'"
[ "$(hdr ns Content-Type)" = "$SESSION_MT" ] && ok "newSession: Content-Type $SESSION_MT" || fail "newSession: Content-Type $(hdr ns Content-Type)"
[ "$(json_get "$T/ns.body" "(d['status'], len(d['accept']) >= 3, 'T' in d['expiry'] and d['expiry'].endswith('Z'))")" = "('waiting', True, True)" ] \
    && ok "newSession: status waiting, accept list, RFC 3339 expiry" || fail "newSession body: $(cat "$T/ns.body")"
NONCE=$(b64url_hex "$(json_get "$T/ns.body" "d['nonce']")")
[ ${#NONCE} -eq 64 ] && ok "newSession: 32-byte nonce (base64url)" || fail "nonce '$NONCE'"
evidence "$NONCE" "$T/token.cose"

req ev -X POST -H "Accept: $SESSION_MT" -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "$B$API/$LOC"
[ "$(code ev)" = 200 ] && ok "evidence: 200" || fail "evidence: $(code ev) $(cat "$T/ev.body")"
[ "$(json_get "$T/ev.body" "(d['status'], d['evidence']['type'])")" = "('complete', '$PSA_MT')" ] \
    && [ "$(json_get "$T/ev.body" "d['nonce']")" = "$(json_get "$T/ns.body" "d['nonce']")" ] \
    && ok "evidence: status complete, evidence type echoed, same nonce" \
    || fail "evidence body: $(head -c 600 "$T/ev.body")"
[ "$(json_get "$T/ev.body" "d['evidence']['value']")" = "$(base64 -w0 "$T/token.cose")" ] \
    && ok "evidence: value echoed (standard base64, as Go encodes []byte)" || fail "evidence value not echoed"
json_get "$T/ev.body" "d['result']" >"$T/ear.jwt"
expect_exit 0 "EAR verifies with the JWK from /.well-known and is affirming" -- "$VMESH" ear verify --key "$T/ear.jwk" --json "$T/ear.jwt"
cp "$T/out" "$T/ear.json"
[ "$(b64url_hex "$(json_get "$T/ear.json" "d['eat_nonce']")")" = "$NONCE" ] && ok "EAR eat_nonce = session nonce" || fail "EAR eat_nonce differs"
[ "$(json_get "$T/ear.json" "d['submods']['psa']['ear.status']")" = affirming ] && ok "EAR submod psa affirming" || fail "EAR: $(cat "$T/ear.json")"
expect_exit 0 "EAR also verifies with the EAR public key file" -- "$VMESH" ear verify --key "$T/ear.pub" "$T/ear.jwt"

# GET: the original id still reads as waiting; the Content-Location id carries the result.
CLOC=$(hdr ev Content-Location)
req get1 -H "Accept: $SESSION_MT" "$B$API/$LOC"
[ "$(code get1)" = 200 ] && [ "$(json_get "$T/get1.body" "d['status']")" = waiting ] \
    && ok "GET session: 200 waiting" || fail "GET session: $(code get1) $(cat "$T/get1.body")"
[[ "$CLOC" =~ ^session/[A-Za-z0-9_-]+$ ]] && ok "evidence: Content-Location names the completed session" || fail "no Content-Location"
req get2 -H "Accept: $SESSION_MT" "$B$API/$CLOC"
[ "$(code get2)" = 200 ] && [ "$(json_get "$T/get2.body" "d['status'], d['result'], d['evidence']['type']")" \
    = "$(json_get "$T/ev.body" "'complete', d['result'], d['evidence']['type']")" ] \
    && ok "GET completed session: 200 complete with the same result" || fail "GET completed: $(code get2) $(head -c 300 "$T/get2.body")"

# Other PSA media types of the same token, and other spellings of one
# (case, spacing: the media-type rule of vmesh/evidence.h).
for mt in 'application/psa-attestation-token' 'Application/EAT+CWT ;EAT_Profile="tag:psacertified.org,2023:psa#tfm"'; do
    req ns2 -X POST "$B$API/newSession?nonce=$(python3 -c 'import base64,sys;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$NONCE")"
    req mt -X POST -H "Content-Type: $mt" --data-binary @"$T/token.cose" "$B$API/$(hdr ns2 Location)"
    [ "$(code mt)" = 200 ] && [ "$(json_get "$T/mt.body" "d['status']")" = complete ] \
        && ok "client-chosen ?nonce= session + media type '$mt': 200" || fail "media type '$mt': $(code mt) $(cat "$T/mt.body")"
done
# A URI parameter value must be quoted (':' and ',' are not token
# characters, RFC 9110 §5.6.2); Veraison's NormalizeMediaType refuses it too.
req ns2 -X POST "$B$API/newSession"
req mt -X POST -H 'Content-Type: application/eat+cwt; eat_profile=tag:psacertified.org,2023:psa#tfm' \
    --data-binary @"$T/token.cose" "$B$API/$(hdr ns2 Location)"
problem mt 415 "Unsupported Media Type" "no active plugin"

# DELETE: 204, then this replica answers 404 for it.
req del -X DELETE "$B$API/$LOC"
[ "$(code del)" = 204 ] && ok "DELETE: 204" || fail "DELETE: $(code del) $(cat "$T/del.body")"
req ev2 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "$B$API/$LOC"
problem ev2 404 "Not Found" "deleted"
req get3 "$B$API/$LOC"
problem get3 404 "Not Found" "deleted"

# ---- nonce mismatch: a result, not an error --------------------------------------
req ns3 -X POST "$B$API/newSession"
req mm -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "$B$API/$(hdr ns3 Location)"
json_get "$T/mm.body" "d['result']" >"$T/mm.jwt" 2>/dev/null
expect_exit 2 "evidence for another nonce: 200, EAR not affirming" -- "$VMESH" ear verify --key "$T/ear.jwk" --json "$T/mm.jwt"
[ "$(json_get "$T/out" "d['submods']['psa']['ear.status']")" = contraindicated ] && ok "nonce mismatch: contraindicated" \
    || fail "nonce mismatch: $(cat "$T/out")"

# ---- passport: Vmesh-AK ------------------------------------------------------------
"$VMESH" keygen --type ec-p256 -o "$T/ak.pem" --pub "$T/ak.pub" >/dev/null
openssl pkey -pubin -in "$T/ak.pub" -outform DER -out "$T/ak.der" 2>/dev/null
AK=$(basenc --base64url -w0 "$T/ak.der" | tr -d '=')
req ns4 -X POST "$B$API/newSession?nonceSize=16"
N4=$(b64url_hex "$(json_get "$T/ns4.body" "d['nonce']")")
AKN=$( (printf 'vmesh ak v1'; cat "$T/ak.der"; printf '%s' "$N4" | xxd -r -p) | sha256sum | cut -c1-64)
evidence "$AKN" "$T/ak-token.cose"
req pp -X POST -H "Content-Type: $PSA_MT" -H "Vmesh-AK: $AK" --data-binary @"$T/ak-token.cose" "$B$API/$(hdr ns4 Location)"
json_get "$T/pp.body" "d['result']" >"$T/pp.jwt"
expect_exit 0 "passport: evidence bound to ak_nonce(AK, session nonce) is affirming" -- "$VMESH" ear verify --key "$T/ear.jwk" --json "$T/pp.jwt"
[ "$(json_get "$T/out" "d['submods']['psa']['ear.veraison.key-attestation']['akpub']")" = "$AK" ] \
    && ok "passport: key-attestation names the AK" || fail "passport: key-attestation: $(cat "$T/out")"
req pp2 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/ak-token.cose" "$B$API/$(hdr ns4 Location)"
json_get "$T/pp2.body" "d['result']" >"$T/pp2.jwt"
expect_exit 2 "same evidence without Vmesh-AK: not affirming (nonce is ak_nonce, not the session nonce)" -- "$VMESH" ear verify --key "$T/ear.jwk" "$T/pp2.jwt"
req pp3 -X POST -H "Content-Type: $PSA_MT" -H "Vmesh-AK: bm90IGEga2V5" --data-binary @"$T/ak-token.cose" "$B$API/$(hdr ns4 Location)"
problem pp3 400 "Bad Request" "Vmesh-AK is not a SubjectPublicKeyInfo"

# ---- 400 ---------------------------------------------------------------------------
req b1 -X POST "$B$API/newSession?nonceSize=7";        problem b1 400 "Bad Request" "nonceSize must be in range 8..64"
req b2 -X POST "$B$API/newSession?nonceSize=garbage";  problem b2 400 "Bad Request" "nonceSize must be in range 8..64"
req b3 -X POST "$B$API/newSession?nonceSize=65";       problem b3 400 "Bad Request" "nonceSize must be in range 8..64"
req b4 -X POST "$B$API/newSession?nonce=AAAA&nonceSize=8"; problem b4 400 "Bad Request" "nonce and nonceSize are mutually exclusive"
req b5 -X POST "$B$API/newSession?nonce=AAAA";         problem b5 400 "Bad Request" "nonce must be between 8 and 64 bytes long; got 3"
req b6 -X POST "$B$API/newSession?nonce=%25%25%25%25"; problem b6 400 "Bad Request" "nonce must be valid base64"
req ns5 -X POST "$B$API/newSession"
L5=$(hdr ns5 Location)
req b7 -X POST -H "Content-Type: $PSA_MT" "$B$API/$L5";  problem b7 400 "Bad Request" "unable to read evidence from the request body"
head -c 300 /dev/urandom >"$T/garbage"
req b8 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/garbage" "$B$API/$L5"
problem b8 400 "Bad Request" "evidence could not be appraised"
req b9 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "$B$API/session/not*base64url"
problem b9 400 "Bad Request" "invalid session id"

# ---- 404 ---------------------------------------------------------------------------
RANDID=$(head -c 90 /dev/urandom | basenc --base64url -w0 | tr -d '=')
req n1 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "$B$API/session/$RANDID"
problem n1 404 "Not Found" "session id does not verify"
ID5=${L5#session/}
C=${ID5:40:1}; [ "$C" = A ] && R=B || R=A
TAMPERED="${ID5:0:40}$R${ID5:41}"
req n2 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "$B$API/session/$TAMPERED"
problem n2 404 "Not Found" "session id does not verify"
req n3 -H "Accept: $SESSION_MT" "$B$API/session/$TAMPERED"
problem n3 404 "Not Found" "session id does not verify"
req n4 "$B$API/nothing-here"
problem n4 404 "Not Found" "no such resource"

# ---- 405, 406, 413, 415 ------------------------------------------------------------
req m1 -X GET "$B$API/newSession";  problem m1 405 "Method Not Allowed" "allows POST"
req a1 -X POST -H "Accept: application/json" "$B$API/newSession"
problem a1 406 "Not Acceptable" "the only supported output format is $SESSION_MT"
req a2 -X POST -H "Accept: application/json" -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "$B$API/$L5"
problem a2 406 "Not Acceptable" "the only supported output format is $SESSION_MT"
req a3 -X POST -H "Accept: text/html, application/*;q=0.5" "$B$API/newSession"
[ "$(code a3)" = 201 ] && ok "Accept application/* is accepted" || fail "Accept application/*: $(code a3)"
req u1 -X POST -H "Content-Type: application/unknown-evidence-format+json" --data-binary @"$T/token.cose" "$B$API/$L5"
problem u1 415 "Unsupported Media Type" "no active plugin found for application/unknown-evidence-format+json"
hdr u1 Accept | grep -qF 'application/psa-attestation-token' && ok "415 carries Accept with the supported media types" \
    || fail "415 Accept header: $(hdr u1 Accept)"
head -c 250000 /dev/urandom >"$T/big"
req t1 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/big" "$B$API/$L5"
problem t1 413 "Request Entity Too Large" "larger than 200000 bytes"

# CMW (application/cmw+json record wrapping the evidence).
req ns6 -X POST "$B$API/newSession?nonce=$(python3 -c 'import base64,sys;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$NONCE")"
python3 -c 'import base64,json,sys; print(json.dumps([sys.argv[1], base64.urlsafe_b64encode(open(sys.argv[2],"rb").read()).decode().rstrip("=")]))' \
    "$PSA_MT" "$T/token.cose" >"$T/cmw.json"
req cm -X POST -H "Content-Type: application/cmw+json" --data-binary @"$T/cmw.json" "$B$API/$(hdr ns6 Location)"
[ "$(code cm)" = 200 ] && [ "$(json_get "$T/cm.body" "d['evidence']['type']")" = "$PSA_MT" ] \
    && ok "CMW JSON record unwrapped: 200" || fail "CMW: $(code cm) $(cat "$T/cm.body")"
# The same evidence as an RFC 9999 CBOR record (application/cmw+cbor).
python3 - "$PSA_MT" "$T/token.cose" "$T/cmw.cbor" <<'PY'
import sys
def head(m, n):
    if n < 24: return bytes([m << 5 | n])
    if n < 256: return bytes([m << 5 | 24, n])
    if n < 65536: return bytes([m << 5 | 25]) + n.to_bytes(2, "big")
    return bytes([m << 5 | 26]) + n.to_bytes(4, "big")
t = sys.argv[1].encode(); v = open(sys.argv[2], "rb").read()
open(sys.argv[3], "wb").write(b"\x82" + head(3, len(t)) + t + head(2, len(v)) + v)
PY
req ns7 -X POST "$B$API/newSession?nonce=$(python3 -c 'import base64,sys;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$NONCE")"
req cc -X POST -H "Content-Type: application/cmw+cbor" --data-binary @"$T/cmw.cbor" "$B$API/$(hdr ns7 Location)"
[ "$(code cc)" = 200 ] && [ "$(json_get "$T/cc.body" "d['evidence']['type']")" = "$PSA_MT" ] \
    && ok "CMW CBOR record unwrapped: 200" || fail "CMW CBOR: $(code cc) $(cat "$T/cc.body")"
# A malformed CMW (padded base64, RFC 9999 §3.1 wants base64url without padding) is a 400 naming it.
req ns8 -X POST "$B$API/newSession?nonce=$(python3 -c 'import base64,sys;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$NONCE")"
python3 -c 'import json,sys; print(json.dumps([sys.argv[1], "AA=="]))' "$PSA_MT" >"$T/bad-cmw.json"
req cb -X POST -H "Content-Type: application/cmw+json" --data-binary @"$T/bad-cmw.json" "$B$API/$(hdr ns8 Location)"
[ "$(code cb)" = 400 ] && grep -q "base64url" "$T/cb.body" && ok "malformed CMW refused: 400 naming base64url" \
    || fail "malformed CMW: $(code cb) $(cat "$T/cb.body")"

# ---- the one-request appraisal (D42) ----------------------------------------------
EAR_MT='application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"'
[ "$(json_get "$T/wk.body" "d['api-endpoints']['vmeshAppraise']")" = /vmesh/v1/appraise ] \
    && ok "well-known: api-endpoints names vmeshAppraise /vmesh/v1/appraise" || fail "well-known: $(cat "$T/wk.body")"
N1=$(openssl rand -hex 32)
N1B=$(python3 -c 'import base64,sys;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$N1")
evidence "$N1" "$T/os.cose"
m0=$(curl -s "$B/metrics" | sed -n 's/^vmesh_verifier_sessions_total //p')
req os -X POST -H "Accept: $EAR_MT" -H "Content-Type: $PSA_MT" --data-binary @"$T/os.cose" "$B/vmesh/v1/appraise?nonce=$N1B"
[ "$(code os)" = 200 ] && [ "$(hdr os Content-Type)" = "$EAR_MT" ] && [ "$(hdr os Cache-Control)" = no-store ] \
    && ok "one-request appraisal: 200 $EAR_MT, no-store" || fail "one-request: $(code os) $(hdr os Content-Type) $(head -c 300 "$T/os.body")"
cp "$T/os.body" "$T/os.jwt"
expect_exit 0 "one-request: the answer is an EAR that verifies with the JWK from /.well-known, affirming" -- "$VMESH" ear verify --key "$T/ear.jwk" --json "$T/os.jwt"
[ "$(b64url_hex "$(json_get "$T/out" "d['eat_nonce']")")" = "$N1" ] && [ "$(json_get "$T/out" "d['submods']['psa']['ear.status']")" = affirming ] \
    && ok "one-request: eat_nonce = the query nonce, submod psa affirming" || fail "one-request EAR: $(cat "$T/out")"
[ "$(curl -s "$B/metrics" | sed -n 's/^vmesh_verifier_sessions_total //p')" = "$m0" ] && curl -s "$B/metrics" | grep -q '^vmesh_verifier_oneshot_total [1-9]' \
    && ok "one-request: no session created; vmesh_verifier_oneshot_total counts it" || fail "one-request metrics: $(curl -s "$B/metrics" | grep -E 'sessions_total|oneshot')"
# the same evidence under another nonce: a result (not affirming), as in a session
req os2 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/os.cose" "$B/vmesh/v1/appraise?nonce=$(printf 'another-nonce-xyz' | basenc --base64url -w0 | tr -d '=')"
cp "$T/os2.body" "$T/os2.jwt"
expect_exit 2 "one-request: evidence for another nonce: 200, EAR not affirming" -- "$VMESH" ear verify --key "$T/ear.jwk" "$T/os2.jwt"
# a CMW body and a passport (Vmesh-AK) work as in a session
python3 -c 'import base64,json,sys; print(json.dumps([sys.argv[1], base64.urlsafe_b64encode(open(sys.argv[2],"rb").read()).decode().rstrip("=")]))' "$PSA_MT" "$T/os.cose" >"$T/os-cmw.json"
req os3 -X POST -H "Content-Type: application/cmw+json" --data-binary @"$T/os-cmw.json" "$B/vmesh/v1/appraise?nonce=$N1B"
cp "$T/os3.body" "$T/os3.jwt"
[ "$(code os3)" = 200 ] && "$VMESH" ear verify --key "$T/ear.jwk" "$T/os3.jwt" >/dev/null 2>&1 && ok "one-request: CMW JSON record: 200, affirming" \
    || fail "one-request CMW: $(code os3) $(head -c 300 "$T/os3.body")"
N5=$(openssl rand -hex 16)
AKN5=$( (printf 'vmesh ak v1'; cat "$T/ak.der"; printf '%s' "$N5" | xxd -r -p) | sha256sum | cut -c1-64)
evidence "$AKN5" "$T/os-ak.cose"
req os4 -X POST -H "Content-Type: $PSA_MT" -H "Vmesh-AK: $AK" --data-binary @"$T/os-ak.cose" \
    "$B/vmesh/v1/appraise?nonce=$(python3 -c 'import base64,sys;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$N5")"
cp "$T/os4.body" "$T/os4.jwt"
expect_exit 0 "one-request passport: ak_nonce(AK, nonce) affirming" -- "$VMESH" ear verify --key "$T/ear.jwk" --json "$T/os4.jwt"
[ "$(json_get "$T/out" "d['submods']['psa']['ear.veraison.key-attestation']['akpub']")" = "$AK" ] \
    && ok "one-request passport: key-attestation names the AK" || fail "one-request passport: $(cat "$T/out")"
# malformed requests: each a named problem
OS="$B/vmesh/v1/appraise"
req ob1 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/os.cose" "$OS";                 problem ob1 400 "Bad Request" "needs ?nonce="
req ob2 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/os.cose" "$OS?nonceSize=32";    problem ob2 400 "Bad Request" "nonceSize is not accepted"
req ob3 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/os.cose" "$OS?nonce=AAAA";      problem ob3 400 "Bad Request" "failed handling nonce request"
req ob4 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/os.cose" "$OS?nonce=%21%21%21%21%21%21%21%21%21%21%21%21"; problem ob4 400 "Bad Request" "failed handling nonce request"
req ob5 -X POST -H "Content-Type: $PSA_MT" "$OS?nonce=$N1B";                                   problem ob5 400 "Bad Request" "unable to read evidence"
req ob6 -X POST -H "Content-Type: text/plain" --data-binary @"$T/os.cose" "$OS?nonce=$N1B";   problem ob6 415 "Unsupported Media Type" "no active plugin found for text/plain"
[ -n "$(hdr ob6 Accept)" ] && ok "one-request 415 lists the media types in Accept" || fail "415 without Accept"
req ob7 -X POST --data-binary @"$T/os.cose" -H "Content-Type:" "$OS?nonce=$N1B";              problem ob7 415 "Unsupported Media Type" "no active plugin found"
req ob8 -X POST -H "Content-Type: application/cmw+json" --data-binary @"$T/bad-cmw.json" "$OS?nonce=$N1B"; problem ob8 400 "Bad Request" "could not unwrap the CMW"
req ob9 -X POST -H "Accept: $SESSION_MT" -H "Content-Type: $PSA_MT" --data-binary @"$T/os.cose" "$OS?nonce=$N1B"; problem ob9 406 "Not Acceptable" "application/eat+jwt"
req ob10 "$OS?nonce=$N1B";                                                                    problem ob10 405 "Method Not Allowed" "allows POST"
head -c 200001 /dev/zero >"$T/os-big.bin"
req ob11 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/os-big.bin" "$OS?nonce=$N1B";  problem ob11 413 "Request Entity Too Large" "larger than 200000 bytes"
req ob12 -X POST -H "Content-Type: $PSA_MT" -H "Vmesh-Peer-ID: not-a-spiffe-id" --data-binary @"$T/os.cose" "$OS?nonce=$N1B"; problem ob12 400 "Bad Request" "Vmesh-Peer-ID is not a SPIFFE ID"
req ob13 -X POST -H "Content-Type: $PSA_MT" --data-binary 'garbage' "$OS?nonce=$N1B";          problem ob13 400 "Bad Request" "evidence could not be appraised"

# --no-one-shot: Veraison's API only
start_verifier N --key "$T/ear.pem" --rv "$T/rv.json" --no-one-shot
req nwk "http://127.0.0.1:$PORT_N/.well-known/veraison/verification"
[ "$(code nwk)" = 200 ] && [ "$(json_get "$T/nwk.body" "'vmeshAppraise' in d['api-endpoints']")" = False ] \
    && ok "--no-one-shot: discovery does not name the one-request appraisal" || fail "--no-one-shot discovery: $(cat "$T/nwk.body")"
req nos -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/os.cose" "http://127.0.0.1:$PORT_N/vmesh/v1/appraise?nonce=$N1B"
problem nos 404 "Not Found" "no such resource"
stop_verifier N

# A replica with another session key does not accept this replica's ids.
echo "0123456789abcdef0123456789abcdef-other" >"$T/other.key"
start_verifier O --key "$T/ear.pem" --rv "$T/rv.json" --session-key "$T/other.key"
req o1 -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "http://127.0.0.1:$PORT_O$API/$L5"
problem o1 404 "Not Found" "another session key"

stop_verifier O
stop_verifier A
grep -q "verifications" "$T/A.log" && ok "stats line at exit: $(grep verifications "$T/A.log")" || fail "no stats line"
finish
