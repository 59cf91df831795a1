#!/usr/bin/env bash
# tpm2.quote: a quote from swtpm appraised against reference values taken
# from the same TPM is affirming (hardware, instance-identity and
# executables 2); the EAR carries the nonce; --print decodes; bad options
# and an unreachable TPM fail with a reason.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/tpm2.bash"
start_swtpm A
cd "$T"
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null

expect_exit 0 "reference values from swtpm A" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --pcrs sha256:0,1,2,3,4,5,6,7 --reference-values rv.json
[ "$(json_get rv.json 'd["reference-values"][0]["class-id"]')" = "text:vmesh-tpm2-platform" ] && ok "RV class id" || fail "RV class id"
[ "$(json_get rv.json 'len(d["reference-values"][0]["measurements"])')" = 8 ] && ok "8 PCR reference values" || fail "PCR reference values"
[ "$(json_get rv.json 'd["reference-values"][0]["measurements"][7]["name"]')" = pcr7 ] && ok "named pcr7" || fail "pcr7 name"
[ "$(json_get rv.json 'len(d["reference-values"][1]["keys"])')" = 1 ] && ok "AK endorsed" || fail "AK key"

NONCE=$(openssl rand -hex 32)
expect_exit 0 "quote" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --nonce "$NONCE" -o ev.cbor
expect_exit 0 "print" -- "$VMESH" attest tpm2 --print ev.cbor
cp "$T/out" printed.json
[ "$(json_get printed.json 'd["tpm2-quote"]["extra-data"]')" = "$NONCE" ] && ok "extra-data is the nonce" || fail "extra-data"
[ "$(json_get printed.json 'sorted(d["pcrs"]["sha256"].keys(), key=int)')" = "['0', '1', '2', '3', '4', '5', '6', '7']" ] \
    && ok "8 PCR values" || fail "PCR values"
# the instance id the RV JSON endorses is the one the evidence reports
IID_RV=$(json_get rv.json '__import__("base64").b64decode(d["reference-values"][1]["instance-id"]).hex()')
[ "$(json_get printed.json 'd["ak-instance-id"]')" = "$IID_RV" ] && ok "AK instance id = SHA-256(SPKI)" || fail "instance id"

expect_exit 0 "appraise affirming" -- "$VMESH" appraise --rv rv.json --evidence ev.cbor --nonce "$NONCE" --key ear.pem -o ear.jwt
expect_stderr "tpm2: affirming instance-identity=2 executables=2 hardware=2"
expect_exit 0 "appraise with the media type" -- "$VMESH" appraise -q --rv rv.json --evidence ev.cbor \
    --media-type application/vnd.vmesh.tpm2-quote+cbor --nonce "$NONCE" --key ear.pem -o ear.jwt
expect_exit 0 "EAR verifies" -- "$VMESH" ear verify --key ear.pub ear.jwt
grep -q 'submod tpm2: affirming' "$T/out" && ok "EAR has an affirming tpm2 submod" || { fail "EAR submod"; head -c 600 "$T/out"; }

# the attester picks the selection: leaving out PCRs that reference values constrain is not affirming
expect_exit 0 "quote sha256:0,7 only" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --pcrs sha256:0,7 --nonce "$NONCE" -o ev07.cbor
expect_exit 2 "a quote that leaves out constrained PCRs is not affirming" -- \
    "$VMESH" appraise --rv rv.json --evidence ev07.cbor --nonce "$NONCE" --key ear.pem -o ear.jwt
expect_stderr "reference values constrain PCR sha256:1 but the quote does not cover it"

# errors
expect_exit 1 "nonce that is not hex" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --nonce 12345 -o x.cbor
expect_stderr "not valid hex"
expect_exit 1 "nonce too long" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --nonce "$(openssl rand -hex 65)" -o x.cbor
expect_stderr "nonce must be 1..64 bytes"
expect_exit 1 "an attester option given twice" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --opt "tcti=$TCTI_A" \
    --nonce "$NONCE" -o x.cbor
expect_stderr "tcti given twice"
expect_exit 1 "bad PCR selection" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --pcrs sha256:0,32 --nonce "$NONCE" -o x.cbor
expect_stderr "PCR index out of range 0..31"
expect_exit 1 "bad handle" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --ak-handle 0x01000000 --nonce "$NONCE" -o x.cbor
expect_stderr "not a persistent handle"
expect_exit 1 "TPM unreachable" -- "$VMESH" attest tpm2 --tcti swtpm:host=127.0.0.1,port=1 --nonce "$NONCE" -o x.cbor
expect_stderr "cannot open TCTI|failed"
head -c 100 ev.cbor > trunc.cbor
expect_exit 1 "truncated evidence is refused" -- "$VMESH" appraise --rv rv.json --evidence trunc.cbor \
    --media-type application/vnd.vmesh.tpm2-quote+cbor --nonce "$NONCE" --key ear.pem
expect_stderr "TPM2 evidence"
finish
