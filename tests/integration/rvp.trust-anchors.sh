#!/usr/bin/env bash
# rvp.trust-anchors (issue 14.5): SEV-SNP and TDX trust anchors and
# collateral travel in a signed trust bundle. `vmesh rvp publish --ta
# SCHEME=FILE` publishes the shared vectors' VCEK, ASK+ARK, PCK CRL, TCB Info
# and QE Identity; `vmesh rvp serve` serves them; `vmesh appraise --rvp
# --state` appraises the real Milan report and the real TDX quote at pinned
# times with nothing but what the sync client accepted (no --ta, no --rv).
# Attacks: a bundle without the trust anchors, an RVP not trusted for the
# scheme, a manifest signed by another key on a fresh verifier, a swapped
# trust-anchor set, a stale manifest, collateral past its nextUpdate, and
# publishing a private key, a junk file or a CCA trust-anchor set. CCA's
# CPAK travels in an RV JSON set; an RVP not trusted for cca cannot endorse one.
. "$(dirname "$0")/lib.bash"
need_vectors
S=$VECTORS/sevsnp
D=$VECTORS/tdx
[ -f "$S/attestation.bin" ] && [ -f "$D/tdx_prod_quote_SPR_E4.dat" ] || { echo "SKIP: vectors absent"; exit 77; }
"$VMESH" keygen --type ec-p256 -o "$T/rvp.pem" --pub "$T/rvp.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o "$T/evil.pem" --pub "$T/evil.pub" >/dev/null || exit 1
"$VMESH" keygen --type ec-p256 -o "$T/v.key" --pub "$T/v.pub" >/dev/null || exit 1

MEAS=b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01
Q=$D/tdx_prod_quote_SPR_E4.dat
MRTD=$(python3 -c "import sys; q=open(sys.argv[1],'rb').read(); print(q[48+0x88:48+0xb8].hex())" "$Q")
RD=$(python3 -c "import sys; q=open(sys.argv[1],'rb').read(); print(q[48+0x208:48+0x248].hex())" "$Q")
mkdir -p "$T/in" "$T/www"
cat >"$T/in/rv.json" <<JSON
{"format": "vmesh-rv/1", "reference-values": [
  {"scheme": "sev-snp", "class-id": "text:sev-snp",
   "measurements": [{"name": "measurement", "digest": {"alg": "sha-384", "value": "$MEAS"}}],
   "attributes": {"policy-debug-allowed": "true"}},
  {"scheme": "tdx", "class-id": "text:tdx",
   "measurements": [{"name": "mrtd", "digest": {"alg": "sha-384", "value": "$MRTD"}}]}]}
JSON
SNP_AT=2023-01-01T00:00:00Z
TDX_AT=2023-07-01T00:00:00Z
NONCE=0102030405000000000000000000000000000000000000000000000000000000

publish() { "$VMESH" rvp publish --key "$T/rvp.pem" --out "$T/www" --name acme "$@"; }
ALL_TA=(--ta "sev-snp=$S/vcek.der" --ta "sev-snp=$S/ask_ark_milan.pem" --ta "tdx=$D/pckcrl"
        --ta "tdx=$D/sample_tcbInfo_response" --ta "tdx=$D/sample_qeIdentity_response")

# ---- publishing: what may and may not go into a trust-anchor set ------------
expect_exit 0 "publish RVs + SNP and TDX trust anchors" -- publish --in "$T/in/rv.json" "${ALL_TA[@]}"
grep -q "published acme epoch 1: 6 sets" "$T/out" && ok "6 sets" || fail "publish output: $(cat "$T/out")"
grep -qE "trust-anchor +sev-snp +application/pkix-cert" "$T/out" && ok "VCEK: DER certificate for sev-snp" \
    || fail "VCEK set line: $(cat "$T/out")"
grep -qE "trust-anchor +sev-snp +application/pem-certificate-chain" "$T/out" && ok "ASK+ARK: PEM chain" \
    || fail "ASK/ARK set line"
grep -qE "trust-anchor +tdx +application/pkix-crl" "$T/out" && ok "PCK CRL: DER CRL for tdx" || fail "PCK CRL line"
[ "$(grep -cE 'trust-anchor +tdx +application/json' "$T/out")" = 2 ] && ok "TCB Info and QE Identity: collateral" \
    || fail "collateral lines"
cp -r "$T/www" "$T/www-good"

cat "$S/ask_ark_milan.pem" "$T/evil.pem" >"$T/with-key.pem"
expect_exit 1 "a certificate file with a private key in it is refused" -- publish --ta "sev-snp=$T/with-key.pem"
expect_stderr "PEM block [0-9]+ is \".*PRIVATE KEY\"; a trust-anchor set carries only"
echo "hello" >"$T/junk.ta"
expect_exit 1 "junk refused" -- publish --ta "tdx=$T/junk.ta"
expect_stderr "junk.ta is not a certificate, CRL, TDX collateral"
expect_exit 1 "cca trust-anchor set refused" -- publish --ta "cca=$T/rvp.pub"
expect_exit 1 "no scheme refused" -- publish --ta "$S/vcek.der"
expect_stderr "is not SCHEME=FILE"
cmp -s "$T/www/manifest.jws" "$T/www-good/manifest.jws" && ok "refused publishes left the bundle alone" \
    || fail "a refused publish changed manifest.jws"

"$VMESH" rvp serve --root "$T/www" --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
SERVER=$!
cleanup_hooks+=("kill $SERVER 2>/dev/null")
for _ in $(seq 50); do grep -q "listening on" "$T/serve.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(awk '/listening on/ {print $3}' "$T/serve.out")
[ -n "$PORT" ] || { echo "server did not start: $(cat "$T/serve.err")"; exit 1; }
URL="http://127.0.0.1:$PORT"

snp() { # snp STATE [RVP-SPEC-SUFFIX]
    "$VMESH" appraise --rvp "acme,$URL,$T/rvp.pub${2:-}" --state "$T/$1" --evidence "$S/attestation.bin" \
        --at "$SNP_AT" --nonce "$NONCE" --key "$T/v.key" -o "$T/snp.jwt"
}
tdx() { # tdx STATE AT
    "$VMESH" appraise --rvp "acme,$URL,$T/rvp.pub" --state "$T/$1" --evidence "$Q" --at "$2" --nonce "$RD" \
        --key "$T/v.key"
}

# ---- appraisal with what sync delivered ----------------------------------------
expect_exit 2 "SNP report appraised with synced trust anchors only (debug accepted: warning)" -- snp s1
expect_stderr "sev-snp: warning instance-identity=2 configuration=32 executables=2 hardware=2 runtime-opaque=32"
"$VMESH" ear verify --key "$T/v.pub" --json --at 2023-01-01T00:10:00Z "$T/snp.jwt" >"$T/claims.json" 2>/dev/null
[ "$(json_get "$T/claims.json" "d['ear.vmesh.rv-epochs']")" = "{'acme': 1}" ] \
    && ok "the EAR names the bundle epoch it was appraised with" \
    || fail "rv-epochs: $(json_get "$T/claims.json" "d.get('ear.vmesh.rv-epochs')")"
expect_exit 2 "TDX quote appraised with synced PCK CRL and collateral (TCB status unknown: warning)" -- tdx s1 "$TDX_AT"
expect_stderr "tdx: warning instance-identity=2 configuration=2 executables=2 hardware=32 runtime-opaque=2"
expect_stderr "no Intel SGX TCB Signing certificate"
# stale collateral: the synced PCK CRL's nextUpdate has passed at 2023-08-01
expect_exit 2 "TDX at 2023-08-01: the synced PCK CRL has expired" -- tdx s1 2023-08-01T00:00:00Z
expect_stderr "hardware=99"
expect_stderr "CRL has expired"

# ---- the same without the trust anchors: refused ------------------------------
mkdir -p "$T/www-nota"
"$VMESH" rvp publish --key "$T/rvp.pem" --out "$T/www-nota" --name acme --in "$T/in/rv.json" >/dev/null
cp "$T/www-nota/manifest.jws" "$T/m-nota.jws"
cp "$T/www-nota/sets/"* "$T/www/sets/"
cp "$T/m-nota.jws" "$T/www/manifest.jws"
expect_exit 2 "a bundle without the SNP trust anchors: no VCEK" -- snp s2
expect_stderr "no VCEK certificate"
expect_stderr "hardware=99"
cp "$T/www-good/manifest.jws" "$T/www/manifest.jws"

# ---- an RVP trusted only for tdx cannot hand out sev-snp trust anchors ---------
expect_exit 2 "RVP trusted for tdx only: its sev-snp trust anchors are dropped" -- snp s3 ",tdx"
expect_stderr "rvp acme: sets/[0-9a-f]+ \(trust-anchor\): [0-9]+ entries refused \(e.g. scheme \"sev-snp\"\): this RVP is not trusted"
expect_stderr "hardware=99"

# ---- unsigned: a manifest signed by another key, to a verifier with no state --
mkdir -p "$T/www-evil"
"$VMESH" rvp publish --key "$T/evil.pem" --out "$T/www-evil" --name acme --epoch 9 --in "$T/in/rv.json" \
    "${ALL_TA[@]}" >/dev/null
cp "$T/www-evil/manifest.jws" "$T/www/manifest.jws"
expect_exit 1 "manifest signed by another key: nothing to appraise with" -- snp s4
expect_stderr "manifest signature"
expect_stderr "no trust bundle accepted yet"
# a verifier that had the good bundle keeps it (last good state)
expect_exit 2 "the verifier with state keeps its last good bundle" -- snp s1
expect_stderr "hardware=2"
cp "$T/www-good/manifest.jws" "$T/www/manifest.jws"

# ---- a trust-anchor set swapped on the server ---------------------------------
VCEK_SET=$(sha256sum "$S/vcek.der" | cut -d' ' -f1)
cp "$T/www/sets/$VCEK_SET" "$T/vcek.keep"
python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[-5]^=1; open(sys.argv[1],'wb').write(b)" \
    "$T/www/sets/$VCEK_SET"
expect_exit 1 "a fresh verifier refuses a flipped VCEK set" -- snp s5
expect_stderr "digest mismatch"
cp "$T/vcek.keep" "$T/www/sets/$VCEK_SET"

# ---- CCA: the CPAK travels in an RV JSON set (bound to its implementation-id
# and instance-id), never as a bare trust-anchor set -----------------------------
C=$VECTORS/cca
python3 - "$C" "$T" <<'PY'
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
json.dump({"format": "vmesh-rv/1", "reference-values": [plat, key, realm]}, open(f"{t}/cca-rv.json", "w"))
open(f"{t}/cca-nonce.hex", "w").write(hx(r["cca-realm-challenge"]))
PY
expect_exit 0 "publish the CCA RV JSON with its CPAK" -- publish --in "$T/in/rv.json" --in "$T/cca-rv.json" \
    "${ALL_TA[@]}"
cca() { # cca STATE SCHEMES
    "$VMESH" appraise --rvp "acme,$URL,$T/rvp.pub$2" --state "$T/$1" --evidence "$C/cca-good.cbor" \
        --nonce "$(cat "$T/cca-nonce.hex")" --key "$T/v.key"
}
expect_exit 0 "CCA token affirming with the CPAK from the bundle" -- cca s7 ""
expect_stderr "cca: affirming instance-identity=2 configuration=2 executables=2 hardware=2"
expect_exit 2 "an RVP not trusted for cca cannot endorse a CPAK" -- cca s8 ",sev-snp+tdx"
expect_stderr "no trust anchor \(CPAK\)"

# ---- stale: the manifest is past expires_at -----------------------------------
publish --in "$T/in/rv.json" "${ALL_TA[@]}" --validity 1 >/dev/null || fail "publish --validity 1"
sleep 2 # let the 1-second validity pass (a wait, not a timing assertion)
expect_exit 2 "stale bundle: results carry a sourced-data warning" -- snp s6
expect_stderr "trust bundle is stale"
"$VMESH" ear verify --key "$T/v.pub" --json --at 2023-01-01T00:10:00Z "$T/snp.jwt" >"$T/claims.json" 2>/dev/null
[ "$(json_get "$T/claims.json" "d['submods']['sev-snp']['ear.trustworthiness-vector']['sourced-data']")" = 32 ] \
    && ok "sourced-data = 32 under a stale bundle" || fail "sourced-data not 32: $(cat "$T/claims.json")"
finish
