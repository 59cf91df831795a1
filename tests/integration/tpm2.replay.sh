#!/usr/bin/env bash
# tpm2.replay: a quote made for an earlier nonce (old qualifying data) is
# refused when a new nonce is expected: every claim 99, exit 2. PCR values
# edited in the evidence (not covered by the signature) no longer hash to
# the quoted pcrDigest: refused too.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/tpm2.bash"
start_swtpm A
cd "$T"
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null
expect_exit 0 "reference values" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --reference-values rv.json
OLD=$(openssl rand -hex 32)
NEW=$(openssl rand -hex 32)
expect_exit 0 "quote for the old nonce" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --nonce "$OLD" -o old.cbor
expect_exit 0 "old quote with the old nonce is affirming" -- "$VMESH" appraise -q --rv rv.json --evidence old.cbor --nonce "$OLD" --key ear.pem -o ear.jwt
expect_exit 2 "old quote replayed for the new nonce" -- "$VMESH" appraise --rv rv.json --evidence old.cbor --nonce "$NEW" --key ear.pem -o ear.jwt
expect_stderr "tpm2: contraindicated instance-identity=99 configuration=99 executables=99"
expect_stderr "quote qualifying data does not match the expected nonce"

# flip one bit of the reported PCR 0 value (the last byte of its bstr)
python3 - old.cbor forged.cbor <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = d.index(bytes([0x83, 0x0b, 0x00, 0x58, 0x20]))   # [sha256, 0, bstr(32)]
d[i + 5 + 31] ^= 1
open(sys.argv[2], 'wb').write(d)
PY
expect_exit 2 "edited PCR value refused" -- "$VMESH" appraise --rv rv.json --evidence forged.cbor --nonce "$OLD" --key ear.pem -o ear.jwt
expect_stderr "executables=99"
expect_stderr "do not hash to the quoted pcrDigest"
finish
