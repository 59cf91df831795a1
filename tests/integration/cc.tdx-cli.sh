#!/usr/bin/env bash
# cc.tdx-cli: the production TDX v4 quote of ../shared/vectors/tdx through
# `vmesh appraise`: detection, --at 2023-07-01 for the PCK chain and CRLs,
# --ta with the PCK CRL and the TCB Info / QE Identity collateral (not
# usable without Intel's TCB signing certificate, which the vectors lack:
# the TCB status then stays unknown, a warning), MRTD reference values and
# tampering.
. "$(dirname "$0")/lib.bash"
need_vectors
D=$VECTORS/tdx
[ -f "$D/tdx_prod_quote_SPR_E4.dat" ] || { echo "SKIP: $D absent"; exit 77; }
"$VMESH" keygen --type ec-p256 -o "$T/v.key" --pub "$T/v.pub" >/dev/null || { echo "keygen failed"; exit 1; }
Q=$D/tdx_prod_quote_SPR_E4.dat
MRTD=$(python3 -c "import sys; q=open(sys.argv[1],'rb').read(); print(q[48+0x88:48+0xb8].hex())" "$Q")
RD=$(python3 -c "import sys; q=open(sys.argv[1],'rb').read(); print(q[48+0x208:48+0x248].hex())" "$Q")
rv() {
    cat >"$1" <<JSON
{"format": "vmesh-rv/1", "reference-values": [
  {"scheme": "tdx", "class-id": "text:tdx",
   "measurements": [{"name": "mrtd", "digest": {"alg": "sha-384", "value": "$2"}}]}]}
JSON
}
rv "$T/rv.json" "$MRTD"
rv "$T/rv-other.json" "00${MRTD:2}"
AT=2023-07-01T00:00:00Z

expect_exit 2 "vector quote verifies; TCB status unknown without usable collateral" -- "$VMESH" appraise \
    --rv "$T/rv.json" --evidence "$Q" --at "$AT" --nonce "$RD" --ta "$D/pckcrl" \
    --ta "$D/sample_tcbInfo_response" --ta "$D/sample_qeIdentity_response" --key "$T/v.key" -o "$T/ear.jwt"
expect_stderr "tdx: warning instance-identity=2 configuration=2 executables=2 hardware=32 runtime-opaque=2"
expect_stderr "TCB status unknown: no valid TCB Info \(for this FMSPC\) collateral: no Intel SGX TCB Signing certificate"
"$VMESH" ear verify --key "$T/v.pub" --json --at 2023-07-01T00:10:00Z "$T/ear.jwt" >"$T/claims.json" 2>/dev/null
[ $? -eq 2 ] && ok "EAR verifies (warning)" || fail "EAR does not verify"
[ "$(json_get "$T/claims.json" "d['submods']['tdx']['ear.status']")" = warning ] && ok "EAR status warning" \
    || fail "EAR status not warning"

expect_exit 2 "MRTD mismatch" -- "$VMESH" appraise --rv "$T/rv-other.json" --evidence "$Q" --at "$AT" \
    --media-type application/vnd.vmesh.tdx-quote --key "$T/v.key"
expect_stderr "executables=33"

python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[48+0x88]^=1; open(sys.argv[2],'wb').write(b)" \
    "$Q" "$T/flip.dat"
expect_exit 2 "flipped MRTD byte refused" -- "$VMESH" appraise --rv "$T/rv.json" --evidence "$T/flip.dat" \
    --at "$AT" --key "$T/v.key"
expect_stderr "hardware=99"
expect_stderr "quote signature does not verify with its attestation key"

expect_exit 2 "PCK CRL expired at 2023-08-01" -- "$VMESH" appraise --rv "$T/rv.json" --evidence "$Q" \
    --at 2023-08-01T00:00:00Z --ta "$D/pckcrl" --key "$T/v.key"
expect_stderr "CRL has expired"

expect_exit 2 "nonce mismatch" -- "$VMESH" appraise --rv "$T/rv.json" --evidence "$Q" --at "$AT" \
    --nonce "00${RD:2}" --key "$T/v.key"
expect_stderr "REPORTDATA does not carry the expected nonce"

head -c 700 "$Q" >"$T/short.dat"
expect_exit 1 "truncated quote is an error" -- "$VMESH" appraise --rv "$T/rv.json" --evidence "$T/short.dat" \
    --media-type application/vnd.vmesh.tdx-quote --key "$T/v.key"
expect_stderr "signature data length"
finish
