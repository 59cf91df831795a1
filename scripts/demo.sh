#!/usr/bin/env bash
# The demo of what exists so far (foundation slice): a psa-sim platform
# measures its workload, produces evidence bound to a verifier's nonce, the
# verifier appraises it against reference values and issues a signed EAR,
# which a relying party verifies; then the workload changes and the same
# steps refuse it. Everything lives in a temporary directory.
set -eu
VMESH=${1:-build/src/cli/vmesh}
[ -x "$VMESH" ] || { echo "demo: $VMESH not found; run 'make build' first" >&2; exit 1; }
VMESH=$(cd "$(dirname "$VMESH")" && pwd)/$(basename "$VMESH")
D=$(mktemp -d "${TMPDIR:-/tmp}/vmesh-demo.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"
step() { printf '\n== %s\n' "$*"; }

step "1. keys: the platform's IAK and the verifier's EAR signing key"
"$VMESH" keygen --type ec-p256 -o iak.pem --pub iak.pub.pem
"$VMESH" keygen --type ec-p256 -o verifier.pem --pub verifier.pub.pem
echo "   iak.pem, verifier.pem (private, mode 0600) and their public halves"

step "2. the workload and its reference value (published by the RVP)"
printf '#!/bin/sh\necho "SASE PoP workload v1"\n' > workload
DIGEST=$(sha256sum workload | cut -d' ' -f1)
IMPL=$(printf 'vmesh-demo-implementation-id-001' | base64 -w0)
cat > claims.json <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm",
  "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$IMPL",
  "psa-boot-seed": "$(head -c 32 /dev/urandom | base64 -w0)",
  "psa-software-components": [ { "measurement-type": "workload", "measurement-value": "$(printf '%064d' 0 | xxd -r -p | base64 -w0)", "signer-id": "$(head -c 32 /dev/zero | base64 -w0)" } ],
  "psa-nonce": "$(head -c 32 /dev/zero | base64 -w0)" }
JSON
cat > refvals.json <<JSON
{ "format": "vmesh-rv/1",
  "reference-values": [ { "scheme": "psa", "class-id": "$IMPL",
      "measurements": [ { "name": "workload", "digest": { "alg": "sha-256", "value": "$DIGEST" } } ],
      "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open("iak.pub.pem").read()))') ] } ] }
JSON
echo "   workload sha-256 = $DIGEST"

step "3. the verifier picks a fresh nonce; the platform attests (psa-sim)"
NONCE=$(openssl rand -hex 32)
"$VMESH" attest psa --iak iak.pem --claims claims.json --measure workload=workload --nonce "$NONCE" -o token.cose
echo "   token.cose: $(wc -c < token.cose) bytes, nonce $NONCE"

step "4. the verifier appraises the evidence and signs an EAR"
"$VMESH" appraise --rv refvals.json --evidence token.cose --nonce "$NONCE" --key verifier.pem -o ear.jwt
echo "   ear.jwt: $(wc -c < ear.jwt) bytes"

step "5. the relying party verifies the EAR"
"$VMESH" ear verify --key verifier.pub.pem ear.jwt

step "6. the workload is modified: the same steps now refuse it"
printf '#!/bin/sh\necho "tampered"\n' > workload
NONCE=$(openssl rand -hex 32)
"$VMESH" attest psa --iak iak.pem --claims claims.json --measure workload=workload --nonce "$NONCE" -o token2.cose
set +e
"$VMESH" appraise --rv refvals.json --evidence token2.cose --nonce "$NONCE" --key verifier.pem -o ear2.jwt
rc=$?
set -e
[ $rc -eq 2 ] || { echo "demo: expected the tampered workload to be refused (exit 2), got $rc" >&2; exit 1; }
"$VMESH" ear verify --key verifier.pub.pem ear2.jwt || true

printf '\n== summary\n   genuine workload: affirming\n   tampered workload: refused (executables: unrecognized run-time)\n   demo OK\n'
