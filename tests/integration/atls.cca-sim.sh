#!/usr/bin/env bash
# atls.cca-sim: a cca-sim attester over the attested channel, end to end
# (issue 14.1): `vmesh server --platform cca-sim` attests with the shared
# CCA vector's claims and CPAK (a fresh RAK; the realm challenge carries the
# handshake's AK nonce), its evidence travels in the attestation message as
# an RFC 9999 CMW collection (platform + realm), and `vmesh client` appraises
# it against RV JSON built from the vector: admitted as affirming
# (epoch-fresh, every claim 2); refused when the client endorses another CPAK or
# expects another realm initial measurement.
. "$(dirname "$0")/lib.bash"
need_vectors
V=$VECTORS/cca
[ -f "$V/cca-good.json" ] || { echo "SKIP: $V absent"; exit 77; }
cd "$T"
"$VMESH" ca init --trust-domain example.org --out ca >/dev/null || { echo "ca init failed"; exit 1; }
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/realm --out srv >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/client --out cli >/dev/null
"$VMESH" keygen -o bell.pem --pub bell.pub >/dev/null && "$VMESH" keygen -o other.pem --pub other.pub >/dev/null
mkdir www && "$VMESH" rvp tick --key bell.pem --out www >/dev/null
python3 - "$V" "$T" <<'PY'
import base64, json, sys
v, t = sys.argv[1:]
c = json.load(open(f"{v}/cca-good.json"))
p, r = c["cca-platform-token"], c["cca-realm-delegated-token"]
hx = lambda b64: base64.b64decode(b64).hex()
cpak = json.load(open(f"{v}/cpak.ec.p256.jwk"))
plat = {"scheme": "cca", "class-id": p["cca-platform-implementation-id"],
        "measurements": [{"name": "config", "raw-value": hx(p["cca-platform-config"])}] +
                        [{"name": s["measurement-type"], "version": s["version"],
                          "digest": {"alg": "sha-256", "value": hx(s["measurement-value"])}}
                         for s in p["cca-platform-sw-components"]]}
key = {"scheme": "cca", "class-id": p["cca-platform-implementation-id"],
       "instance-id": p["cca-platform-instance-id"], "keys": [{k: cpak[k] for k in ("kty", "crv", "x", "y")}]}
realm = {"scheme": "cca", "class-id": r["cca-realm-initial-measurement"],
         "measurements": [{"name": "rim", "raw-value": hx(r["cca-realm-initial-measurement"])},
                          {"name": "rpv", "raw-value": hx(r["cca-realm-personalization-value"])}] +
                         [{"name": f"rem{i}", "raw-value": hx(m)}
                          for i, m in enumerate(r["cca-realm-extensible-measurements"])]}
json.dump({"format": "vmesh-rv/1", "reference-values": [plat, key, realm]}, open(f"{t}/rv.json", "w"))
key["keys"] = [open(f"{t}/other.pub").read()]
json.dump({"format": "vmesh-rv/1", "reference-values": [plat, key, realm]}, open(f"{t}/rv-other-cpak.json", "w"))
key["keys"] = [{k: cpak[k] for k in ("kty", "crv", "x", "y")}]
rim = base64.b64decode(r["cca-realm-initial-measurement"])
realm["measurements"][0]["raw-value"] = (bytes([rim[0] ^ 1]) + rim[1:]).hex()
json.dump({"format": "vmesh-rv/1", "reference-values": [plat, key, realm]}, open(f"{t}/rv-other-rim.json", "w"))
PY
PORT=$(free_port)
"$VMESH" server --listen 127.0.0.1:$PORT --cert srv-chain.pem --key srv.key --bundle ca/bundle.pem \
    --platform cca-sim --platform-opt "cpak=$V/cpak.ec.p256.jwk" --claims "$V/cca-good.json" \
    --allow-unattested --bell www/bell.cwt --bell-key bell.pub 2>server.log &
SERVER=$!
cleanup_hooks+=("kill $SERVER 2>/dev/null")
for _ in $(seq 100); do grep -q listening server.log 2>/dev/null && break; sleep 0.1; done
grep -q listening server.log || { echo "server did not start: $(cat server.log)"; exit 1; }
client() { "$VMESH" client --connect 127.0.0.1:$PORT --cert cli-chain.pem --key cli.key --bundle ca/bundle.pem \
    --no-attest --bell www/bell.cwt --bell-key bell.pub "$@"; }

expect_exit 0 "cca-sim realm admitted" -- client --rv rv.json --message "hello realm"
[ "$(cat "$T/out")" = "hello realm" ] && ok "echo intact" || fail "echo was '$(cat "$T/out")'"
expect_stderr "peer spiffe://example.org/realm mode=epoch-fresh tier=affirming"
expect_stderr "tv=instance-identity:2,configuration:2,executables:2,hardware:2,runtime-opaque:2,storage-opaque:2"
expect_exit 2 "another CPAK endorsed: refused" -- client --rv rv-other-cpak.json --message x
expect_stderr "evidence-invalid: .*CCA platform token signature does not verify with the endorsed CPAK"
expect_exit 2 "another realm initial measurement expected: refused" -- client --rv rv-other-rim.json --message x
expect_stderr "not-affirming: .*no \"rim\" reference value for the realm initial measurement"
finish
