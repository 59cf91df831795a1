#!/usr/bin/env bash
# bench/cc: confidential-computing appraisals per second on one core, one
# row per scheme, next to the raw signature rates of the curves involved
# (`openssl speed ecdsap256 ecdsap384`, measured in the same rounds).
#
# Rows (add a scheme: a setup block that prepares RV/evidence/nonce files
# and a line in ROWS; the crypto limit is 1/sum(1/rate) over the signature
# operations one appraisal needs):
#   cca  the shared Arm CCA token (Veraison cca-good.cbor): platform ES256
#        verify + realm ES384 verify + EAR ES256 sign
#   sev-snp  a report signed by a generated chain shaped like AMD's
#        (bench/cc/gen_cc.py: RSA-4096 RSA-PSS ARK and ASK, P-384 VCEK), in the
#        CBOR envelope with its certificates: report P-384 verify + VCEK and
#        ASK RSA-4096 verifies + EAR ES256 sign (the real Milan vector allows
#        debugging, so it is not affirming and cannot be timed by bench_appraise)
#   tdx  a v4 quote with a generated PCK chain and signed TCB Info / QE
#        Identity: quote, QE report, PCK and Platform CA certificates, TCB
#        signing certificate (checked once per collateral document) and the two
#        collateral signatures = 8 P-256 verifies + EAR ES256 sign
# Usage: bench/cc/run.sh BUILD_DIR [SECONDS] [ROUNDS]   (VMESH_VECTORS: shared vectors)
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-3}
ROUNDS=${3:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
VECTORS=${VMESH_VECTORS:-$HERE/../../../shared/vectors}
BENCH=$BUILD/bench/bench_appraise
[ -x "$BENCH" ] || { echo "bench/cc: build first (make build)" >&2; exit 1; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/ear.pem" 2>/dev/null

ROWS=()   # "name|evidence|rv|nonce-hex|ops" with ops as "verify256 verify384 sign256 ..."

# ---- cca -------------------------------------------------------------------
if [ -f "$VECTORS/cca/cca-good.cbor" ]; then
    python3 - "$VECTORS/cca" "$W" <<'PY'
import base64, json, sys
v, t = sys.argv[1:]
c = json.load(open(f"{v}/cca-good.json"))
p, r = c["cca-platform-token"], c["cca-realm-delegated-token"]
hx = lambda b64: base64.b64decode(b64).hex()
cpak = json.load(open(f"{v}/cpak.ec.p256.jwk"))
doc = {"format": "vmesh-rv/1", "reference-values": [
    {"scheme": "cca", "class-id": p["cca-platform-implementation-id"],
     "measurements": [{"name": "config", "raw-value": hx(p["cca-platform-config"])}] +
                     [{"name": s["measurement-type"], "version": s["version"],
                       "digest": {"alg": "sha-256", "value": hx(s["measurement-value"])}}
                      for s in p["cca-platform-sw-components"]]},
    {"scheme": "cca", "class-id": p["cca-platform-implementation-id"],
     "instance-id": p["cca-platform-instance-id"], "keys": [{k: cpak[k] for k in ("kty", "crv", "x", "y")}]},
    {"scheme": "cca", "class-id": r["cca-realm-initial-measurement"],
     "measurements": [{"name": "rim", "raw-value": hx(r["cca-realm-initial-measurement"])}] +
                     [{"name": f"rem{i}", "raw-value": hx(m)} for i, m in enumerate(r["cca-realm-extensible-measurements"])]}]}
json.dump(doc, open(f"{t}/cca-rv.json", "w"))
open(f"{t}/cca-nonce.hex", "w").write(hx(r["cca-realm-challenge"]))
PY
    ROWS+=("cca (Arm CCA token)|$VECTORS/cca/cca-good.cbor|$W/cca-rv.json|$(cat "$W/cca-nonce.hex")|verify256 verify384 sign256")
else
    echo "bench/cc: $VECTORS/cca absent, no cca row" >&2
fi

# ---- sev-snp and tdx (generated evidence; no vectors needed) ------------------
python3 "$HERE/gen_cc.py" "$W"
ROWS+=("sev-snp (report + VCEK/ASK/ARK)|$W/snp.cbor|$W/snp-rv.json|$(cat "$W/snp-nonce.hex")|verify384 verifyrsa4096 verifyrsa4096 sign256")
ROWS+=("tdx (quote v4 + collateral)|$W/tdx.quote|$W/tdx-rv.json|$(cat "$W/tdx-nonce.hex")|verify256 verify256 verify256 verify256 verify256 verify256 verify256 verify256 sign256")

[ ${#ROWS[@]} -gt 0 ] || { echo "bench/cc: no rows (shared vectors absent)" >&2; exit 1; }
# sanity: bench_appraise itself fails unless every appraisal is affirming
for row in "${ROWS[@]}"; do
    IFS='|' read -r name ev rv nonce ops <<<"$row"
    "$BENCH" -r "$rv" -e "$ev" -k "$W/ear.pem" -n "$nonce" -s 0.1 >/dev/null ||
        { echo "bench/cc: $name is not affirming" >&2; exit 1; }
done

PIN="taskset -c 0"; command -v taskset >/dev/null || PIN=
: >"$W/results"
for r in $(seq "$ROUNDS"); do
    speed=$($PIN openssl speed -seconds "$SECS" ecdsap256 ecdsap384 rsa4096 2>/dev/null)
    s256=$(echo "$speed" | grep -E '^ *256 bits ecdsa \(nistp256\)' | awk '{print $(NF-1)}')
    v256=$(echo "$speed" | grep -E '^ *256 bits ecdsa \(nistp256\)' | awk '{print $NF}')
    s384=$(echo "$speed" | grep -E '^ *384 bits ecdsa \(nistp384\)' | awk '{print $(NF-1)}')
    v384=$(echo "$speed" | grep -E '^ *384 bits ecdsa \(nistp384\)' | awk '{print $NF}')
    vrsa=$(echo "$speed" | grep -E '^rsa 4096 bits' | awk '{print $NF}')
    echo "speed $r sign256=$s256 verify256=$v256 sign384=$s384 verify384=$v384 verifyrsa4096=$vrsa" >>"$W/results"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r name ev rv nonce ops <<<"$row"
        out=$($PIN "$BENCH" -r "$rv" -e "$ev" -k "$W/ear.pem" -n "$nonce" -s "$SECS")
        echo "row $r $(echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["per_second"], d["p50_us"])') $name|$ops" >>"$W/results"
    done
done
python3 - "$HERE/../../docs/BENCHMARKS.md" "$W/results" "$ROUNDS" "$SECS" <<'PY'
import sys, statistics, subprocess, os, datetime, collections
md, res, rounds, secs = sys.argv[1:]
speed, rows = {}, collections.OrderedDict()
for line in open(res):
    kind, rnd, rest = line.split(" ", 2)
    if kind == "speed":
        speed[rnd] = {k: float(v) for k, v in (kv.split("=") for kv in rest.split())}
    else:
        rate, p50, name_ops = rest.split(" ", 2)
        name, ops = name_ops.strip().split("|")
        rows.setdefault(name, []).append((rnd, float(rate), float(p50), ops.split()))
med = statistics.median
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), 'unknown')
col = lambda k: [s[k] for s in speed.values()]
out = [f"## bench/cc — confidential-computing appraisal rates vs the signature limit", "",
       f"`bench/cc/run.sh build {secs} {rounds}`, {datetime.date.today()}, one core (taskset -c 0), {cpu}.",
       f"{rounds} rounds of {secs} s; each round measures `openssl speed ecdsap256 ecdsap384 rsa4096`, then every row, so all see the same machine state. Medians (min-max). The crypto limit of a row is 1/Σ(1/rate) over the signature operations one appraisal needs (verify the evidence signatures, sign the EAR); the ratio is computed per round, then its median taken; \"ratio at p50\" compares the crypto time of one appraisal with the median appraisal latency, which preemption by other processes distorts less than the rate.", "",
       "| raw signature rate (openssl speed) | median | min | max |", "|---|---:|---:|---:|"]
for k, label in (("sign256", "ECDSA P-256 sign/s"), ("verify256", "ECDSA P-256 verify/s"),
                 ("sign384", "ECDSA P-384 sign/s"), ("verify384", "ECDSA P-384 verify/s"),
                 ("verifyrsa4096", "RSA-4096 verify/s")):
    out.append(f"| {label} | {med(col(k)):,.0f} | {min(col(k)):,.0f} | {max(col(k)):,.0f} |")
out += ["", "| scheme | operations per appraisal | crypto limit /s | vmesh appraisals/s | p50 µs | ratio to the limit | ratio at p50 |",
        "|---|---|---:|---:|---:|---:|---:|"]
for name, rs in rows.items():
    limits = [1 / sum(1 / speed[rnd][op] for op in ops) for rnd, _, _, ops in rs]
    rates = [x[1] for x in rs]
    ratios = [r / l for r, l in zip(rates, limits)]
    # the same ratio from the median latency: robust against preemption on a shared machine
    p50r = [(1e6 / l) / x[2] for l, x in zip(limits, rs)]
    out.append(f"| {name} | {' + '.join(rs[0][3])} | {med(limits):,.0f} | {med(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) "
               f"| {med([x[2] for x in rs]):,.1f} | **{med(ratios):.2f}** | {med(p50r):.2f} |")
text = "\n".join(out) + "\n"
sys.stdout.write(text)
subprocess.run([sys.executable, os.path.join(os.path.dirname(md), '..', 'bench', 'lib', 'mdsection.py'), 'cc', md],
               input=text.encode(), check=True)
PY
