#!/usr/bin/env bash
# `vmesh attest psa` (psa-sim): a token from a generated IAK, a claims
# template and a measured file; its claims (read back with --print) carry the
# SHA-256 of that file and the nonce; errors name the problem.
. "$(dirname "$0")/lib.bash"

# An IAK: `vmesh keygen` if it works, openssl otherwise.
if ! "$VMESH" keygen --type ec-p256 -o "$T/iak.pem" >/dev/null 2>&1; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/iak.pem" 2>/dev/null \
        || { echo "cannot generate a key"; exit 1; }
fi
openssl pkey -in "$T/iak.pem" -pubout -out "$T/iak.pub.pem" 2>/dev/null || { echo "openssl pkey failed"; exit 1; }

cat >"$T/claims.json" <<'EOF'
{
  "eat-profile": "tag:psacertified.org,2023:psa#tfm",
  "psa-client-id": 1,
  "psa-security-lifecycle": 12288,
  "psa-implementation-id": "YWNtZS1pbXBsZW1lbnRhdGlvbi1pZC0wMDAwMDAwMDE=",
  "psa-software-components": [
    {
      "measurement-type": "BL",
      "measurement-value": "h0KPxSKAPTEGXnvOPPA/5HUJZjHl4Hu9eg/eYMTPJcc=",
      "signer-id": "rLsRx+TaIXIFUjzkzhokWuGiOa48a/2eeHH35di66Gs=",
      "version": "2.1.0"
    },
    {
      "measurement-type": "PRoT",
      "measurement-value": "AmOCmYm2/ZVPcrqvL8ZLwuLwHWktTecphuqAj26ZgT8=",
      "signer-id": "rLsRx+TaIXIFUjzkzhokWuGiOa48a/2eeHH35di66Gs=",
      "version": "1.3.5"
    }
  ],
  "psa-verification-service-indicator": "https://verifier.example"
}
EOF
head -c 4096 /dev/urandom >"$T/prot.bin"
printf 'a new application image\n' >"$T/app.bin"
NONCE=$(head -c 32 /dev/urandom | xxd -p -c 64)
PROT_SHA=$(sha256sum "$T/prot.bin" | cut -c1-64)
APP_SHA=$(sha256sum "$T/app.bin" | cut -c1-64)

expect_exit 0 "--help" -- "$VMESH" attest psa --help
grep -q -- "--measure NAME=FILE" "$T/out" && ok "--help lists --measure" || fail "--help lacks --measure"

expect_exit 0 "attest psa with --measure" -- "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/claims.json" \
    --nonce "$NONCE" --measure "PRoT=$T/prot.bin" --measure "App=$T/app.bin" -o "$T/token.cose"
[ -s "$T/token.cose" ] && ok "token written" || fail "no token"
[ "$(xxd -p -l 2 "$T/token.cose")" = d284 ] && ok "token is a tagged COSE_Sign1" || fail "not tag 18 + array(4)"

expect_exit 0 "--print with signature check" -- "$VMESH" attest psa --print "$T/token.cose" --iak "$T/iak.pub.pem"
cp "$T/out" "$T/claims.out.json"
expect_stderr "signature verified"
hexof() { json_get "$T/claims.out.json" "__import__('base64').b64decode($1).hex()"; }
[ "$(hexof "[c for c in d['psa-software-components'] if c['measurement-type']=='PRoT'][0]['measurement-value']")" = "$PROT_SHA" ] \
    && ok "PRoT measurement = sha256sum of the file" || fail "PRoT measurement differs from $PROT_SHA"
[ "$(hexof "[c for c in d['psa-software-components'] if c['measurement-type']=='App'][0]['measurement-value']")" = "$APP_SHA" ] \
    && ok "App component appended with sha256sum of its file" || fail "App measurement differs from $APP_SHA"
[ "$(hexof "d['psa-nonce']")" = "$NONCE" ] && ok "nonce carried" || fail "nonce differs"
[ "$(hexof "[c for c in d['psa-software-components'] if c['measurement-type']=='BL'][0]['measurement-value']")" \
    = 87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7 ] \
    && ok "unmeasured BL keeps its template value" || fail "BL measurement changed"
[ "$(json_get "$T/claims.out.json" "d['eat-profile']")" = "tag:psacertified.org,2023:psa#tfm" ] \
    && ok "profile RFC 9783" || fail "wrong profile"
# instance id derived from the IAK: 0x01 || SHA-256(SPKI DER)
SPKI_SHA=$(openssl pkey -pubin -in "$T/iak.pub.pem" -outform DER 2>/dev/null | sha256sum | cut -c1-64)
[ "$(hexof "d['psa-instance-id']")" = "01$SPKI_SHA" ] && ok "instance id = 0x01 || SHA-256(SPKI)" \
    || fail "instance id is not derived from the IAK"

# A token to standard output is the same format.
expect_exit 0 "-o - writes to stdout" -- "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/claims.json" \
    --nonce "$NONCE" -o -
[ "$(xxd -p -l 2 "$T/out")" = d284 ] && ok "stdout token" || fail "stdout token malformed"

# The signature check fails with another key.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.pem" 2>/dev/null
expect_exit 1 "--print with the wrong IAK" -- "$VMESH" attest psa --print "$T/token.cose" --iak "$T/other.pem"
expect_stderr "does not verify"

# Errors name the problem.
expect_exit 1 "unreadable key" -- "$VMESH" attest psa --iak "$T/nope.pem" --claims "$T/claims.json" \
    --nonce "$NONCE" -o "$T/x.cose"
expect_stderr "nope.pem"
printf '{\n  "psa-client-id": 1,\n  "psa-nonce": ]\n}\n' >"$T/bad.json"
expect_exit 1 "bad JSON" -- "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/bad.json" --nonce "$NONCE" -o "$T/x.cose"
expect_stderr "line 3 column"
expect_exit 1 "bad hex nonce" -- "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/claims.json" \
    --nonce "zz$NONCE" -o "$T/x.cose"
expect_stderr "not valid hex"
expect_exit 1 "nonce of wrong length" -- "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/claims.json" \
    --nonce 00112233 -o "$T/x.cose"
expect_stderr "4 bytes.*32, 48 or 64"
expect_exit 1 "no nonce at all" -- "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/claims.json" -o "$T/x.cose"
expect_stderr "psa-nonce"
expect_exit 1 "bad --measure" -- "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/claims.json" \
    --nonce "$NONCE" --measure "PRoT" -o "$T/x.cose"
expect_stderr "NAME=FILE"
expect_exit 1 "measured file missing" -- "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/claims.json" \
    --nonce "$NONCE" --measure "PRoT=$T/missing.bin" -o "$T/x.cose"
expect_stderr "missing.bin"
expect_exit 1 "public key as IAK" -- "$VMESH" attest psa --iak "$T/iak.pub.pem" --claims "$T/claims.json" \
    --nonce "$NONCE" -o "$T/x.cose"
expect_stderr "private"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); del d['psa-implementation-id']; json.dump(d, open(sys.argv[2],'w'))" \
    "$T/claims.json" "$T/noimpl.json"
expect_exit 1 "template without implementation id" -- "$VMESH" attest psa --iak "$T/iak.pem" \
    --claims "$T/noimpl.json" --nonce "$NONCE" -o "$T/x.cose"
expect_stderr "implementation-id \(key 2396\) is missing"
expect_exit 1 "unknown platform" -- "$VMESH" attest tpm9
expect_stderr "unknown platform"
printf 'not a token' >"$T/junk.cose"
expect_exit 1 "--print of junk" -- "$VMESH" attest psa --print "$T/junk.cose"
expect_stderr "PSA token"
[ ! -e "$T/x.cose" ] && ok "no token written on errors" || fail "a token was written despite an error"

finish
