#!/usr/bin/env bash
# bench/tpm2: TPM 2.0 quotes per second from swtpm (the whole attester
# call: TCTI open, AK read, TPM2_Quote, PCR_Read of 8 PCRs, close) and tpm2
# appraisals per second (decode, ECDSA-P256 verify, PCR digest, reference
# values; no EAR), in the same run, next to `openssl speed` ECDSA P-256
# sign and verify rates: a quote is one TPM-side ECDSA sign, an appraisal
# one verify, so those are the ceilings. swtpm is a software TPM: a hardware
# TPM signs far slower (docs/TPM2.md).
# Usage: bench/tpm2/run.sh BUILD_DIR [SECONDS] [ROUNDS]
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-3}
ROUNDS=${3:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
VMESH=$BUILD/src/cli/vmesh
BENCH=$BUILD/bench/bench_tpm2
[ -x "$VMESH" ] && [ -x "$BENCH" ] || { echo "bench/tpm2: build first (make build)" >&2; exit 1; }
command -v swtpm >/dev/null || { echo "bench/tpm2: swtpm not installed, skipped" >&2; exit 0; }
W=$(mktemp -d)
PORT=$(python3 -c 'import socket,random
while True:
    p=random.randint(20000,60000); ok=True
    for q in (p,p+1):
        s=socket.socket()
        try: s.bind(("127.0.0.1",q))
        except OSError: ok=False
        s.close()
    if ok: print(p); break')
mkdir -p "$W/state"
swtpm socket --tpm2 --server type=tcp,port=$PORT,bindaddr=127.0.0.1 --ctrl type=tcp,port=$((PORT+1)),bindaddr=127.0.0.1 \
    --tpmstate dir="$W/state" --flags not-need-init,startup-clear >"$W/swtpm.log" 2>&1 &
SWTPM=$!
trap 'kill $SWTPM 2>/dev/null; wait $SWTPM 2>/dev/null; rm -rf "$W"' EXIT
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
TCTI=swtpm:host=127.0.0.1,port=$PORT
"$VMESH" attest tpm2 --tcti "$TCTI" --reference-values "$W/rv.json"
SWTPM_VER=$(swtpm --version | head -1)

PIN="taskset -c 0"; command -v taskset >/dev/null || PIN=
q=() qp=() a=() ap=() sign=() verify=()
for r in $(seq "$ROUNDS"); do
    line=$($PIN openssl speed -seconds "$SECS" ecdsap256 2>/dev/null | grep -E '^ *256 bits ecdsa \(nistp256\)')
    sign+=("$(echo "$line" | awk '{print $(NF-1)}')")
    verify+=("$(echo "$line" | awk '{print $NF}')")
    out=$($PIN "$BENCH" -t "$TCTI" -r "$W/rv.json" -s "$SECS")
    q+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["quotes_per_second"])')")
    qp+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["quote_p50_us"])')")
    a+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["appraisals_per_second"])')")
    ap+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["appraisal_p50_us"])')")
done
python3 - "$HERE/../../docs/BENCHMARKS.md" "${q[*]}" "${qp[*]}" "${a[*]}" "${ap[*]}" "${sign[*]}" "${verify[*]}" "$ROUNDS" "$SECS" "$SWTPM_VER" <<'PY'
import sys, statistics, subprocess, os, datetime
md, q, qp, a, ap, sign, verify, rounds, secs, swv = sys.argv[1:]
f = lambda s: [float(x) for x in s.split()]
q, qp, a, ap, sign, verify = f(q), f(qp), f(a), f(ap), f(sign), f(verify)
med = statistics.median
ra = [x / v for x, v in zip(a, verify)]
rq = [x / s for x, s in zip(q, sign)]
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), 'unknown')
row = lambda name, xs, fmt: f"| {name} | {format(med(xs), fmt)} | {format(min(xs), fmt)} | {format(max(xs), fmt)} |\n"
out = f"""## bench/tpm2 — TPM 2.0 quotes and tpm2 appraisals

`bench/tpm2/run.sh build {secs} {rounds}`, {datetime.date.today()}, client pinned to one core (taskset -c 0; swtpm runs unpinned), {cpu}, {swv}.
{rounds} rounds of {secs} s; each round measures `openssl speed ecdsap256`, then quotes (the whole attester call: TCTI connect, AK ReadPublic, TPM2_Quote of sha256:0-7, PCR_Read, disconnect), then appraisals of the last quote (decode, ECDSA verify, PCR digest, reference values; no EAR signing). Medians.

| measure | median | min | max |
|---|---:|---:|---:|
""" + row("ECDSA P-256 sign/s (openssl speed)", sign, ",.0f") + row("ECDSA P-256 verify/s (openssl speed)", verify, ",.0f") \
    + row("swtpm quotes/s (vmesh tpm2 attester)", q, ",.0f") + row("quote latency p50 (µs)", qp, ",.0f") \
    + row("tpm2 appraisals/s", a, ",.0f") + row("appraisal latency p50 (µs)", ap, ",.1f") \
    + row("quotes/s ÷ ECDSA sign/s", rq, ".3f") + row("**appraisals/s ÷ ECDSA verify/s**", ra, ".2f") + """
swtpm signs in software in another process, so its quote rate is an upper bound no hardware TPM reaches: discrete TPMs take tens to hundreds of milliseconds per ECC quote (docs/TPM2.md, "Quote latency and the choice of mode").
"""
sys.stdout.write(out)
subprocess.run([sys.executable, os.path.join(os.path.dirname(md), '..', 'bench', 'lib', 'mdsection.py'), 'tpm2', md], input=out.encode(), check=True)
PY
