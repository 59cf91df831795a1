#!/usr/bin/env bash
# cc.cca-vector: `vmesh appraise` on the shared Arm CCA token (Veraison's
# cca-good.cbor): affirming with an RV JSON built here from the token's
# claims and its CPAK (docs/CCA.md conventions); refused (exit 2, every
# claim 99) with one flipped byte in the platform payload, the realm
# payload, either signature, with a wrong CPAK and with a wrong nonce.
. "$(dirname "$0")/lib.bash"
need_vectors
V=$VECTORS/cca
[ -f "$V/cca-good.cbor" ] || { echo "SKIP: $V/cca-good.cbor absent"; exit 77; }
MT='application/eat-collection; profile="http://arm.com/CCA-SSD/1.0.0"'

"$VMESH" keygen --type ec-p256 -o "$T/ear.pem" --pub "$T/ear.pub" >/dev/null || { fail "keygen"; finish; }
"$VMESH" keygen --type ec-p256 -o "$T/other.pem" --pub "$T/other.pub" >/dev/null || { fail "keygen"; finish; }

# rv.json from the claims of the vector; rv-other.json endorses another key
python3 - "$V" "$T" <<'PY'
import base64, json, sys
v, t = sys.argv[1:]
c = json.load(open(f"{v}/cca-good.json"))
p, r = c["cca-platform-token"], c["cca-realm-delegated-token"]
hx = lambda b64: base64.b64decode(b64).hex()
cpak = json.load(open(f"{v}/cpak.ec.p256.jwk"))
pub = {k: cpak[k] for k in ("kty", "crv", "x", "y")}
plat = {"scheme": "cca", "class-id": p["cca-platform-implementation-id"],
        "measurements": [{"name": "config", "raw-value": hx(p["cca-platform-config"])}] +
                        [{"name": s["measurement-type"], "version": s["version"],
                          "digest": {"alg": "sha-256", "value": hx(s["measurement-value"])}}
                         for s in p["cca-platform-sw-components"]]}
key = {"scheme": "cca", "class-id": p["cca-platform-implementation-id"],
       "instance-id": p["cca-platform-instance-id"], "keys": [pub]}
realm = {"scheme": "cca", "class-id": r["cca-realm-initial-measurement"],
         "measurements": [{"name": "rim", "raw-value": hx(r["cca-realm-initial-measurement"])},
                          {"name": "rpv", "raw-value": hx(r["cca-realm-personalization-value"])}] +
                         [{"name": f"rem{i}", "raw-value": hx(m)}
                          for i, m in enumerate(r["cca-realm-extensible-measurements"])]}
doc = {"format": "vmesh-rv/1", "reference-values": [plat, key, realm]}
json.dump(doc, open(f"{t}/rv.json", "w"), indent=1)
key["keys"] = [open(f"{t}/other.pub").read()]
json.dump(doc, open(f"{t}/rv-other.json", "w"), indent=1)
open(f"{t}/nonce.hex", "w").write(hx(r["cca-realm-challenge"]))
d = bytearray(open(f"{v}/cca-good.cbor", "rb").read())
def flipped(name, off):
    b = bytearray(d); b[off] ^= 1; open(f"{t}/{name}.cbor", "wb").write(b)
flipped("platform-payload", d.index(bytes.fromhex("19095b193000")) + 5)   # lifecycle 0x3000
flipped("realm-payload", d.index(bytes.fromhex("19acce584043")) + 5)      # RIM
assert d[7] == 0x59
plen = d[8] << 8 | d[9]
flipped("platform-signature", 10 + plen - 1)
flipped("realm-signature", len(d) - 1)
PY
NONCE=$(cat "$T/nonce.hex")

expect_exit 0 "vector appraised with its media type" -- \
    "$VMESH" appraise --media-type "$MT" --rv "$T/rv.json" --evidence "$V/cca-good.cbor" --key "$T/ear.pem" \
    --nonce "$NONCE" -o "$T/ear.jwt"
expect_stderr "cca: affirming instance-identity=2 configuration=2 executables=2 hardware=2 runtime-opaque=2 storage-opaque=2"
if python3 - "$T/ear.jwt" <<'PY'
import base64, json, sys
p = open(sys.argv[1]).read().split(".")[1]
ear = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
sub = ear["submods"]["cca"]
assert sub["ear.status"] == "affirming", sub["ear.status"]
ev = sub["ear.veraison.annotated-evidence"]
assert ev["cca-platform-token"]["cca-platform-lifecycle"] == 12288
assert ev["cca-realm-delegated-token"]["cca-realm-profile"] == "tag:arm.com,2023:realm#1.0.0"
PY
then ok "EAR submod cca is affirming and carries the claims"; else fail "EAR content"; fi

expect_exit 0 "vector appraised with the scheme detected" -- \
    "$VMESH" appraise --rv "$T/rv.json" --evidence "$V/cca-good.cbor" --key "$T/ear.pem" --nonce "$NONCE" -o "$T/ear2.jwt"
expect_stderr "cca: affirming"

for case in platform-payload:"platform token signature does not verify" \
            realm-payload:"realm token signature does not verify" \
            platform-signature:"platform token signature does not verify" \
            realm-signature:"realm token signature does not verify"; do
    name=${case%%:*} msg=${case#*:}
    expect_exit 2 "flipped byte in the $name refused" -- \
        "$VMESH" appraise --media-type "$MT" --rv "$T/rv.json" --evidence "$T/$name.cbor" --key "$T/ear.pem" \
        --nonce "$NONCE" -o "$T/bad.jwt"
    expect_stderr "contraindicated instance-identity=99 configuration=99 executables=99"
    expect_stderr "$msg"
done

expect_exit 2 "wrong CPAK refused" -- \
    "$VMESH" appraise --media-type "$MT" --rv "$T/rv-other.json" --evidence "$V/cca-good.cbor" --key "$T/ear.pem" \
    --nonce "$NONCE" -o "$T/bad.jwt"
expect_stderr "does not verify with the endorsed CPAK"

expect_exit 2 "wrong nonce refused" -- \
    "$VMESH" appraise --media-type "$MT" --rv "$T/rv.json" --evidence "$V/cca-good.cbor" --key "$T/ear.pem" \
    --nonce "00${NONCE:2}" -o "$T/bad.jwt"
expect_stderr "evidence nonce does not match the expected nonce"

expect_exit 1 "truncated token is an error" -- bash -c \
    "head -c 600 '$V/cca-good.cbor' > '$T/trunc.cbor' && '$VMESH' appraise --media-type '$MT' --rv '$T/rv.json' --evidence '$T/trunc.cbor' --key '$T/ear.pem'"
expect_stderr "CCA token"

# The cca-sim attester through `vmesh attest` (the scheme registry): a token
# from the vector's keys and claims, bound to our nonce, is affirming under
# the same reference values; --print checks it with the CPAK.
NONCE2=$(openssl rand -hex 64)
expect_exit 0 "vmesh attest cca-sim" -- "$VMESH" attest cca-sim --cpak "$V/cpak.ec.p256.jwk" --rak "$V/rak.ec.p384.jwk" \
    --claims "$V/cca-good.json" --nonce "$NONCE2" -o "$T/sim.cbor"
expect_exit 0 "its token is affirming" -- "$VMESH" appraise --rv "$T/rv.json" --evidence "$T/sim.cbor" \
    --key "$T/ear.pem" --nonce "$NONCE2" -o "$T/sim.jwt"
expect_stderr "cca: affirming instance-identity=2"
expect_exit 0 "--print --cpak" -- "$VMESH" attest cca-sim --print "$T/sim.cbor" --cpak "$V/cpak.ec.p256.jwk"
expect_stderr "signature verified"
[ "$(json_get "$T/out" "__import__('base64').b64decode(d['cca-realm-delegated-token']['cca-realm-challenge']).hex()")" \
    = "$NONCE2" ] && ok "printed realm challenge = the nonce" || fail "printed realm challenge"
expect_exit 1 "--print with another key" -- "$VMESH" attest cca-sim --print "$T/sim.cbor" --cpak "$T/other.pub"
expect_stderr "does not verify"
expect_exit 0 "attester options also as --opt KEY=VALUE" -- "$VMESH" attest cca --opt "cpak=$V/cpak.ec.p256.jwk" \
    --opt "claims=$V/cca-good.json" --nonce "$NONCE2" -o "$T/sim2.cbor"
expect_exit 1 "an option cca-sim does not have" -- "$VMESH" attest cca-sim --opt iak=x --claims "$V/cca-good.json" -o "$T/x"
expect_stderr "has no attester option \"iak\""
finish
