#!/usr/bin/env bash
# Round trip with our own keys and measurements:
# vmesh keygen -> vmesh attest psa -> vmesh appraise -> vmesh ear verify,
# then a changed workload, a wrong nonce, an unknown IAK and a signed CoRIM-free
# RV JSON with a typo, each refused the way the CLI contract says.
. "$(dirname "$0")/lib.bash"
cd "$T"
"$VMESH" keygen --type ec-p256 -o iak.pem --pub iak.pub >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o other-iak.pem --pub other-iak.pub >/dev/null
"$VMESH" keygen --type ec-p384 -o verifier.pem --pub verifier.pub >/dev/null
printf 'workload v1\n' > workload
printf 'firmware\n' > firmware
IMPL=$(printf 'vmesh-test-implementation-id-001' | base64 -w0)
ZERO=$(head -c 32 /dev/zero | base64 -w0)
cat > claims.json <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1,
  "psa-security-lifecycle": 12288, "psa-implementation-id": "$IMPL",
  "psa-boot-seed": "$ZERO", "psa-nonce": "$ZERO",
  "psa-software-components": [
    { "measurement-type": "BL", "measurement-value": "$ZERO", "signer-id": "$ZERO" } ] }
JSON
rv_json() { # $1 = workload digest, $2 = IAK public key file, $3 = extra field (optional)
cat <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$IMPL", ${3:-}
    "measurements": [
      { "name": "BL", "digest": { "alg": "sha-256", "value": "$(sha256sum firmware | cut -d' ' -f1)" } },
      { "name": "workload", "digest": { "alg": "sha-256", "value": "$1" } } ],
    "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$2") ] } ] }
JSON
}
rv_json "$(sha256sum workload | cut -d' ' -f1)" iak.pub > rv.json
NONCE=$(openssl rand -hex 32)

expect_exit 0 "attest with measured files" -- \
    "$VMESH" attest psa --iak iak.pem --claims claims.json --measure BL=firmware --measure workload=workload --nonce "$NONCE" -o token.cose
expect_exit 0 "appraise: affirming" -- \
    "$VMESH" appraise --rv rv.json --evidence token.cose --nonce "$NONCE" --key verifier.pem -o ear.jwt
expect_exit 0 "ear verify: affirming" -- "$VMESH" ear verify --key verifier.pub --json ear.jwt
cp "$T/out" claims-out.json
[ "$(json_get claims-out.json "d['submods']['psa']['ear.trustworthiness-vector']['executables']")" = 2 ] \
    && ok "executables = 2" || fail "executables != 2"
want_nonce=$(python3 -c "import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip('='))" "$NONCE")
[ "$(json_get claims-out.json "d['eat_nonce']")" = "$want_nonce" ] && ok "EAR carries the nonce" || fail "EAR nonce wrong"
expect_exit 0 "ear verify (human-readable)" -- "$VMESH" ear verify --key verifier.pub ear.jwt
grep -qi affirming "$T/out" && ok "summary says affirming" || fail "summary lacks affirming"
expect_exit 1 "ear verify with the wrong key" -- "$VMESH" ear verify --key iak.pub ear.jwt

printf 'workload v2 (tampered)\n' > workload
expect_exit 0 "attest the changed workload" -- \
    "$VMESH" attest psa --iak iak.pem --claims claims.json --measure BL=firmware --measure workload=workload --nonce "$NONCE" -o token2.cose
expect_exit 2 "changed workload is not affirming" -- \
    "$VMESH" appraise --rv rv.json --evidence token2.cose --nonce "$NONCE" --key verifier.pem -o ear2.jwt
expect_stderr "workload"
expect_exit 2 "its EAR is valid but not affirming" -- "$VMESH" ear verify --key verifier.pub --json ear2.jwt
cp "$T/out" claims2.json
[ "$(json_get claims2.json "d['submods']['psa']['ear.trustworthiness-vector']['executables']")" = 33 ] \
    && ok "executables = 33" || fail "executables != 33"

expect_exit 2 "wrong nonce is not affirming" -- \
    "$VMESH" appraise --rv rv.json --evidence token.cose --nonce "$(openssl rand -hex 32)" --key verifier.pem
expect_exit 0 "token signed by an unendorsed IAK is produced" -- \
    "$VMESH" attest psa --iak other-iak.pem --claims claims.json --measure BL=firmware --nonce "$NONCE" -o token3.cose
expect_exit 2 "unendorsed IAK is not affirming" -- \
    "$VMESH" appraise --rv rv.json --evidence token3.cose --nonce "$NONCE" --key verifier.pem

rv_json "$(sha256sum workload | cut -d' ' -f1)" iak.pub '"mesurements": [],' > typo.json
expect_exit 1 "RV JSON with an unknown field is refused" -- \
    "$VMESH" appraise --rv typo.json --evidence token.cose --key verifier.pem
expect_stderr "mesurements"
expect_exit 1 "appraise without --key" -- "$VMESH" appraise --rv rv.json --evidence token.cose
expect_stderr "required"
expect_exit 1 "bad --nonce hex" -- "$VMESH" appraise --rv rv.json --evidence token.cose --key verifier.pem --nonce xyz
expect_exit 1 "public key as EAR signing key" -- "$VMESH" appraise --rv rv.json --evidence token.cose --key verifier.pub
expect_stderr "private"
expect_exit 0 "appraise --help" -- "$VMESH" appraise --help
finish
