#!/usr/bin/env bash
# Interop: Veraison's PSA token and CoRIM vectors through `vmesh appraise`
# and `vmesh ear verify` (issue 2 "Must show").
. "$(dirname "$0")/lib.bash"
need_vectors
TOK=$VECTORS/psa/psa.good.cose
GOOD=$VECTORS/corim/corim-psa-valid.cbor
BAD=$VECTORS/corim/corim-psa-bad-refval-mval.cbor
NONCE=$(python3 -c "import json,base64,sys; print(base64.b64decode(json.load(open(sys.argv[1]))['psa-nonce']).hex())" "$VECTORS/psa/psa.good.claims.json")

"$VMESH" keygen --type ec-p256 -o "$T/v.key" --pub "$T/v.pub" || { echo "keygen failed"; exit 1; }

expect_exit 0 "good token + valid CoRIM is affirming" -- \
    "$VMESH" appraise --rv "$GOOD" --evidence "$TOK" --nonce "$NONCE" --key "$T/v.key" -o "$T/ear.jwt"
expect_exit 0 "the EAR verifies" -- "$VMESH" ear verify --key "$T/v.pub" --json "$T/ear.jwt"
cp "$T/out" "$T/claims.json"
[ "$(json_get "$T/claims.json" "d['submods']['psa']['ear.trustworthiness-vector']['executables']")" = 2 ] \
    && ok "executables = 2" || fail "executables != 2: $(cat "$T/claims.json")"
[ "$(json_get "$T/claims.json" "d['submods']['psa']['ear.trustworthiness-vector']['hardware']")" = 2 ] \
    && ok "hardware = 2" || fail "hardware != 2"
[ "$(json_get "$T/claims.json" "d['submods']['psa']['ear.status']")" = affirming ] \
    && ok "status affirming" || fail "status not affirming"
[ "$(json_get "$T/claims.json" "d['eat_profile']")" = "tag:github.com,2023:veraison/ear" ] \
    && ok "EAR profile" || fail "EAR profile wrong"

expect_exit 1 "CoRIM with a malformed reference value is refused" -- \
    "$VMESH" appraise --rv "$BAD" --evidence "$TOK" --nonce "$NONCE" --key "$T/v.key"
expect_stderr "digest|measurement"

# One flipped byte inside the signed payload (in the nonce bytes, so the
# CBOR stays well-formed) and one in the signature.
python3 - "$TOK" "$T" "$NONCE" <<'PY'
import sys
tok = bytearray(open(sys.argv[1], 'rb').read()); t = sys.argv[2]
i = tok.find(bytes.fromhex(sys.argv[3][:8])); assert i > 0
p = bytearray(tok); p[i] ^= 1; open(t + '/flip-payload.cose', 'wb').write(p)
s = bytearray(tok); s[-5] ^= 0x80; open(t + '/flip-sig.cose', 'wb').write(s)
PY
for f in flip-payload flip-sig; do
    expect_exit 2 "$f: not affirming" -- \
        "$VMESH" appraise --rv "$GOOD" --evidence "$T/$f.cose" --key "$T/v.key" -o "$T/$f.jwt"
    expect_exit 2 "$f: EAR valid but not affirming" -- "$VMESH" ear verify --key "$T/v.pub" --json "$T/$f.jwt"
    cp "$T/out" "$T/$f.json"
    [ "$(json_get "$T/$f.json" "d['submods']['psa']['ear.trustworthiness-vector'].get('hardware')")" = 99 ] \
        && ok "$f: hardware = 99 (crypto validation failed)" || fail "$f: hardware != 99: $(cat "$T/$f.json")"
done

expect_exit 2 "a nonce other than the token's is not affirming" -- \
    "$VMESH" appraise --rv "$GOOD" --evidence "$TOK" --key "$T/v.key" \
    --nonce 0000000000000000000000000000000000000000000000000000000000000000
expect_stderr "nonce"

# An implementation id with no trust anchor: the same claims with another
# implementation id, signed with the vector's IAK.
python3 - "$VECTORS/psa/psa.good.claims.json" "$T/other-impl.json" <<'PY'
import json, sys, base64
c = json.load(open(sys.argv[1]))
c['psa-implementation-id'] = base64.b64encode(b'x' * 32).decode()
json.dump(c, open(sys.argv[2], 'w'))
PY
expect_exit 0 "token with unknown implementation id is produced" -- \
    "$VMESH" attest psa --iak "$VECTORS/psa/iak.ec.p256.jwk" --claims "$T/other-impl.json" --nonce "$NONCE" -o "$T/other.cose"
expect_exit 2 "implementation id without a trust anchor is not affirming" -- \
    "$VMESH" appraise --rv "$GOOD" --evidence "$T/other.cose" --nonce "$NONCE" --key "$T/v.key"
expect_stderr "trust anchor|no .*key|not found|unrecognized"

expect_exit 1 "unreadable evidence is an error" -- \
    "$VMESH" appraise --rv "$GOOD" --evidence "$T/does-not-exist" --key "$T/v.key"
expect_stderr "does-not-exist"
head -c 40 "$TOK" > "$T/trunc.cose"
expect_exit 1 "truncated evidence is an error" -- \
    "$VMESH" appraise --rv "$GOOD" --evidence "$T/trunc.cose" --media-type application/psa-attestation-token --key "$T/v.key"
expect_exit 1 "unsupported media type is an error" -- \
    "$VMESH" appraise --rv "$GOOD" --evidence "$TOK" --media-type application/x-nope --key "$T/v.key"
expect_stderr "unsupported"
for mt in 'application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"' \
          'application/psa-attestation-token' 'application/eat-cwt; profile="http://arm.com/psa/2.0.0"'; do
    expect_exit 0 "media type $mt accepted" -- \
        "$VMESH" appraise --rv "$GOOD" --evidence "$TOK" --media-type "$mt" --nonce "$NONCE" --key "$T/v.key"
done
finish
