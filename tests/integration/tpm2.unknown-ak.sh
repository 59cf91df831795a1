#!/usr/bin/env bash
# tpm2.unknown-ak: a quote from a second swtpm (another AK) is refused
# against reference values that endorse only the first TPM's AK:
# instance-identity and hardware 97 (unrecognized), exit 2. An evidence
# file whose AK SPKI field is swapped for the endorsed one does not help:
# the signature does not verify (99).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/tpm2.bash"
start_swtpm A
start_swtpm B
cd "$T"
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null
expect_exit 0 "reference values of TPM A" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --reference-values rv.json
NONCE=$(openssl rand -hex 32)
expect_exit 0 "quote from TPM B" -- "$VMESH" attest tpm2 --tcti "$TCTI_B" --nonce "$NONCE" -o evB.cbor
expect_exit 2 "TPM B refused" -- "$VMESH" appraise --rv rv.json --evidence evB.cbor --nonce "$NONCE" --key ear.pem -o ear.jwt
expect_stderr "tpm2: contraindicated instance-identity=97 hardware=97"
expect_stderr "no attestation key endorsed for this TPM"

# splice A's AK into B's evidence: found as endorsed, but the signature fails
expect_exit 0 "quote from TPM A" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --nonce "$NONCE" -o evA.cbor
python3 - evA.cbor evB.cbor spliced.cbor <<'PY'
import sys
a, b = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read()
# key 4 (AK SPKI, 91 bytes: 0x04 0x58 0x5b) is followed by key 5; both files have the same layout
marker = bytes([0x04, 0x58, 0x5b, 0x30, 0x59])
ia, ib = a.index(marker), b.index(marker)
open(sys.argv[3], 'wb').write(b[:ib] + a[ia:ia + 3 + 91] + b[ib + 3 + 91:])
PY
expect_exit 2 "B's quote with A's AK does not verify" -- "$VMESH" appraise --rv rv.json --evidence spliced.cbor --nonce "$NONCE" --key ear.pem -o ear.jwt
expect_stderr "hardware=99"
expect_stderr "does not verify with the endorsed AK"
finish
