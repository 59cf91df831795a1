#!/usr/bin/env bash
# cc.snp-cli: the real Milan SEV-SNP report of ../shared/vectors/sevsnp
# through `vmesh appraise` with --ta (VCEK, ASK+ARK), --at (pinned time for
# the certificate checks) and scheme detection (no --media-type).
. "$(dirname "$0")/lib.bash"
need_vectors
S=$VECTORS/sevsnp
[ -f "$S/attestation.bin" ] || { echo "SKIP: $S absent"; exit 77; }
"$VMESH" keygen --type ec-p256 -o "$T/v.key" --pub "$T/v.pub" >/dev/null || { echo "keygen failed"; exit 1; }
MEAS=b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01
rv() { # rv FILE DEBUG_ALLOWED MEASUREMENT
    cat >"$1" <<JSON
{"format": "vmesh-rv/1", "reference-values": [
  {"scheme": "sev-snp", "class-id": "text:sev-snp",
   "measurements": [{"name": "measurement", "digest": {"alg": "sha-384", "value": "$3"}}],
   "attributes": {"policy-debug-allowed": "$2"}}]}
JSON
}
rv "$T/rv-debug.json" true "$MEAS"
rv "$T/rv-nodebug.json" false "$MEAS"
rv "$T/rv-other.json" true "00${MEAS:2}"
AT=2023-01-01T00:00:00Z
NONCE=0102030405000000000000000000000000000000000000000000000000000000

# verified; debug accepted by the RVs -> warning (exit 2), hardware 2, executables 2
expect_exit 2 "vector verifies (debug accepted: warning)" -- "$VMESH" appraise --rv "$T/rv-debug.json" \
    --evidence "$S/attestation.bin" --ta "$S/vcek.der" --ta "$S/ask_ark_milan.pem" --at "$AT" \
    --nonce "$NONCE" --key "$T/v.key" -o "$T/ear.jwt"
expect_stderr "sev-snp: warning instance-identity=2 configuration=32 executables=2 hardware=2 runtime-opaque=32"
expect_stderr "allows debugging \(accepted by policy-debug-allowed\)"
"$VMESH" ear verify --key "$T/v.pub" --json --at 2023-01-01T00:10:00Z "$T/ear.jwt" >"$T/claims.json" 2>/dev/null
[ $? -eq 2 ] && ok "EAR verifies (not affirming)" || fail "EAR does not verify"
[ "$(json_get "$T/claims.json" "d['submods']['sev-snp']['ear.trustworthiness-vector']['instance-identity']")" = 2 ] \
    && ok "instance-identity = 2" || fail "instance-identity != 2"

# debug refused by default
expect_exit 2 "debug policy refused" -- "$VMESH" appraise --rv "$T/rv-nodebug.json" \
    --evidence "$S/attestation.bin" --ta "$S/vcek.der" --ta "$S/ask_ark_milan.pem" --at "$AT" --key "$T/v.key"
expect_stderr "sev-snp: contraindicated .*configuration=96"
expect_stderr "allows debugging \(bit 19\)"

# measurement mismatch
expect_exit 2 "measurement mismatch" -- "$VMESH" appraise --rv "$T/rv-other.json" \
    --evidence "$S/attestation.bin" --ta "$S/vcek.der" --ta "$S/ask_ark_milan.pem" --at "$AT" --key "$T/v.key"
expect_stderr "executables=33"

# --at before the VCEK's notBefore (2022-09-24T00:55:28Z): chain refused
expect_exit 2 "certificate not yet valid at --at" -- "$VMESH" appraise --rv "$T/rv-debug.json" \
    --evidence "$S/attestation.bin" --ta "$S/vcek.der" --ta "$S/ask_ark_milan.pem" \
    --at 2022-09-24T00:00:00Z --key "$T/v.key"
expect_stderr "hardware=99"
expect_stderr "not yet valid"

# one flipped byte in the signed part (MEASUREMENT)
python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[0x90]^=1; open(sys.argv[2],'wb').write(b)" \
    "$S/attestation.bin" "$T/flip.bin"
expect_exit 2 "flipped byte refused" -- "$VMESH" appraise --rv "$T/rv-debug.json" --evidence "$T/flip.bin" \
    --ta "$S/vcek.der" --ta "$S/ask_ark_milan.pem" --at "$AT" --key "$T/v.key"
expect_stderr "signature does not verify with the VCEK"

# nonce mismatch
expect_exit 2 "nonce mismatch" -- "$VMESH" appraise --rv "$T/rv-debug.json" --evidence "$S/attestation.bin" \
    --ta "$S/vcek.der" --ta "$S/ask_ark_milan.pem" --at "$AT" --nonce "${NONCE/05/06}" --key "$T/v.key"
expect_stderr "REPORT_DATA does not carry the expected nonce"

# no VCEK given
expect_exit 2 "no VCEK" -- "$VMESH" appraise --rv "$T/rv-debug.json" --evidence "$S/attestation.bin" \
    --ta "$S/ask_ark_milan.pem" --at "$AT" --key "$T/v.key"
expect_stderr "no VCEK certificate"

# explicit media type; a trust anchor that is nothing known
echo "hello" >"$T/junk.ta"
expect_exit 1 "junk trust anchor refused" -- "$VMESH" appraise --rv "$T/rv-debug.json" \
    --evidence "$S/attestation.bin" --media-type application/vnd.vmesh.sev-snp-report --ta "$T/junk.ta" \
    --key "$T/v.key"
expect_stderr "trust anchor refused: trust anchor .*junk.ta is not a certificate, CRL"

# The same report through `vmesh attest tsm` (the configfs-tsm attester,
# through the scheme registry) from a configfs tree prepared as the kernel
# presents it: the CMW it writes is appraised like the report itself.
mkdir -p "$T/tsm/report/e1"
printf 'sev_guest\n' >"$T/tsm/report/e1/provider"
printf '1\n' >"$T/tsm/report/e1/generation"
cp "$S/attestation.bin" "$T/tsm/report/e1/outblob"
: >"$T/tsm/report/e1/inblob"
expect_exit 0 "vmesh attest tsm" -- "$VMESH" attest tsm --tsm-root "$T/tsm" --entry e1 --nonce "$NONCE" -o "$T/tsm.cbor"
cmp -s <(head -c 64 "$T/tsm/report/e1/inblob") <(printf '%s' "$NONCE" | xxd -r -p; head -c 32 /dev/zero) \
    && ok "the nonce went to inblob" || fail "inblob"
expect_exit 2 "its evidence appraises like the report (debug accepted: warning)" -- "$VMESH" appraise \
    --rv "$T/rv-debug.json" --evidence "$T/tsm.cbor" --ta "$S/vcek.der" --ta "$S/ask_ark_milan.pem" --at "$AT" \
    --nonce "$NONCE" --key "$T/v.key"
expect_stderr "instance-identity=2 configuration=32 executables=2 hardware=2"
expect_exit 1 "a report that does not carry the nonce" -- "$VMESH" attest tsm --opt "tsm-root=$T/tsm" --opt entry=e1 \
    --nonce "${NONCE/05/06}" -o "$T/tsm2.cbor"
[ ! -e "$T/tsm2.cbor" ] && ok "no evidence written" || fail "evidence written after an error"
finish
