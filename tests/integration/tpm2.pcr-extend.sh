#!/usr/bin/env bash
# tpm2.pcr-extend: PCR 7 extended after the reference values were taken ->
# the quote still verifies (hardware 2) but executables is 33 and the
# reason names PCR sha256:7; reference values listing the new value as an
# alternative make it affirming again.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/tpm2.bash"
command -v tpm2_pcrextend >/dev/null || { echo "SKIP: tpm2-tools not installed"; exit 77; }
start_swtpm A
cd "$T"
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null
expect_exit 0 "reference values" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --reference-values rv.json
TPM2TOOLS_TCTI=$TCTI_A tpm2_pcrextend 7:sha256=$(printf 'ab%.0s' $(seq 32)) >/dev/null 2>&1 \
    && ok "PCR 7 extended" || fail "tpm2_pcrextend"
NONCE=$(openssl rand -hex 32)
expect_exit 0 "quote" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --nonce "$NONCE" -o ev.cbor
expect_exit 2 "appraise: not affirming" -- "$VMESH" appraise --rv rv.json --evidence ev.cbor --nonce "$NONCE" --key ear.pem -o ear.jwt
expect_stderr "tpm2: warning instance-identity=2 executables=33 hardware=2"
expect_stderr "PCR sha256:7 = [0-9a-f]{64} matches none of its 1 reference values"

# the new value as an accepted alternative (a second RV document for the same class)
NEWPCR7=$("$VMESH" attest tpm2 --print ev.cbor | python3 -c 'import json,sys; print(json.load(sys.stdin)["pcrs"]["sha256"]["7"])')
cat > rv-update.json <<JSON
{"format": "vmesh-rv/1", "reference-values": [{"scheme": "tpm2", "class-id": "text:vmesh-tpm2-platform",
 "measurements": [{"name": "pcr7", "digest": {"alg": "sha-256", "value": "$NEWPCR7"}}]}]}
JSON
expect_exit 0 "affirming with the new value as an alternative" -- \
    "$VMESH" appraise --rv rv.json --rv rv-update.json --evidence ev.cbor --nonce "$NONCE" --key ear.pem -o ear.jwt
expect_stderr "executables=2"
finish
