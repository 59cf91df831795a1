#!/usr/bin/env bash
# bench/verifier: verifications per second and p50/p99 latency of the central
# verifier's HTTP API (`vmesh verifier serve`, 2 worker threads on cores 0-1)
# under a load generator running the Veraison flow (newSession?nonce= → PSA
# evidence POST → EAR) on keep-alive connections, next to the in-process
# appraisal rate (bench_appraise, one core) measured in the same run.
# Goal (issue 4): the service reaches >= 0.5 x the in-process rate per core.
# Each round also runs, on the same service, the relying party's flow (the
# same plus DELETE: three requests, what vmesh's central client sent before
# D42) and vmesh's one-request appraisal (POST /vmesh/v1/appraise?nonce=,
# DECISIONS D42), and compares verifications per service CPU-second.
# "Per core" is reported two ways: the rate over the 2 cores the service may
# use (the load generator shares them, so this is pessimistic), and the rate
# per CPU-second the service process actually consumed.
# Usage: bench/verifier/run.sh BUILD_DIR [SECONDS] [ROUNDS] [CONNECTIONS]
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-5}
ROUNDS=${3:-3}
CONNS=${4:-16}
HERE=$(cd "$(dirname "$0")" && pwd)
VMESH=$BUILD/src/cli/vmesh
BENCH=$BUILD/bench/bench_appraise
LOADGEN=$BUILD/bench/bench_verifier_loadgen
[ -x "$VMESH" ] && [ -x "$BENCH" ] && [ -x "$LOADGEN" ] || { echo "bench/verifier: build first (make build)" >&2; exit 1; }
W=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"
PSA_MT='application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'
"$VMESH" keygen --type ec-p256 -o iak.pem --pub iak.pub >/dev/null
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null
head -c 100000 /dev/urandom > workload
IMPL=$(printf 'bench-implementation-id-0000001x' | base64 -w0)
Z=$(head -c 32 /dev/zero | base64 -w0)
cat > claims.json <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$IMPL", "psa-boot-seed": "$Z", "psa-nonce": "$Z",
  "psa-software-components": [ {"measurement-type": "BL", "measurement-value": "$Z", "signer-id": "$Z"},
                               {"measurement-type": "PRoT", "measurement-value": "$Z", "signer-id": "$Z"} ] }
JSON
cat > rv.json <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$IMPL",
  "measurements": [ {"name": "BL", "digest": {"alg": "sha-256", "value": "$(sha256sum workload | cut -d' ' -f1)"}},
                    {"name": "PRoT", "digest": {"alg": "sha-256", "value": "$(printf '%064d' 0)"}} ],
  "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open("iak.pub").read()))') ] } ] }
JSON
# One nonce and one token per connection (the client picks the session
# nonce with ?nonce=, as Veraison allows).
mkdir ev
for i in $(seq 0 $((CONNS - 1))); do
    N=$(openssl rand -hex 32)
    python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip("="))' "$N" > ev/nonce-$i.txt
    "$VMESH" attest psa --iak iak.pem --claims claims.json --measure BL=workload --nonce "$N" -o ev/ev-$i.cose
done
NONCE0=$(python3 -c 'import base64,sys; s=open(sys.argv[1]).read().strip(); print(base64.urlsafe_b64decode(s+"="*(-len(s)%4)).hex())' ev/nonce-0.txt)

PIN1="taskset -c 0"; PIN2="taskset -c 0,1"; command -v taskset >/dev/null || { PIN1=; PIN2=; }
$PIN2 "$VMESH" verifier serve --listen 127.0.0.1:0 --threads 2 --key ear.pem --rv rv.json --client-connections off --client-rate off --client-bytes off 2>serve.log &
SPID=$!
for _ in $(seq 100); do PORT=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' serve.log); [ -n "$PORT" ] && break; sleep 0.1; done
[ -n "${PORT:-}" ] || { echo "bench/verifier: the service did not start"; cat serve.log; exit 1; }
# Sanity: one flow with curl, the EAR must be affirming.
LOC=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$PORT/challenge-response/v1/newSession?nonce=$(cat ev/nonce-0.txt)" | sed -n 's/^Location: *//Ip' | tr -d '\r')
curl -s -X POST -H "Content-Type: $PSA_MT" --data-binary @ev/ev-0.cose "http://127.0.0.1:$PORT/challenge-response/v1/$LOC" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])' > ear.jwt
"$VMESH" ear verify --key ear.pub ear.jwt >/dev/null || { echo "bench/verifier: the service's EAR is not affirming"; exit 1; }
"$VMESH" appraise -q --rv rv.json --evidence ev/ev-0.cose --nonce "$NONCE0" --key ear.pem >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
TCK=$(getconf CLK_TCK)
inproc=() svc=() p50=() p99=() cpu=() errs=()
del_rate=() del_cpu=() one_rate=() one_cpu=() one_p50=() del_p50=()
# flow_round FLOW: prints "rate cpu_s p50 errors" for one loadgen run of FLOW.
flow_round() {
    local c0 c1 o
    c0=$(cpu_ticks)
    o=$($PIN2 "$LOADGEN" -p "$PORT" -e ev -m "$PSA_MT" -c "$CONNS" -d "$SECS" -w 1 -f "$1")
    c1=$(cpu_ticks)
    echo "  round $r: $1 $o" >&2
    echo "$o" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['per_second'], ($c1 - $c0) / $TCK * $SECS / ($SECS + 1), d['p50_us'], d['errors'])"
}
for r in $(seq "$ROUNDS"); do
    out=$($PIN1 "$BENCH" -r rv.json -e ev/ev-0.cose -k ear.pem -n "$NONCE0" -s "$SECS")
    inproc+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])')")
    c0=$(cpu_ticks)
    out=$($PIN2 "$LOADGEN" -p "$PORT" -e ev -m "$PSA_MT" -c "$CONNS" -d "$SECS" -w 1)
    c1=$(cpu_ticks)
    echo "  round $r: in-process ${inproc[-1]}/s; service $out"
    svc+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["per_second"])')")
    p50+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_us"])')")
    p99+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p99_us"])')")
    errs+=("$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["errors"])')")
    # CPU seconds of the service over warmup + measurement, scaled to the measured window.
    cpu+=("$(python3 -c "print(($c1 - $c0) / $TCK * $SECS / ($SECS + 1))")")
    read -r a b p e < <(flow_round session-delete); del_rate+=("$a") del_cpu+=("$b") del_p50+=("$p"); errs[-1]=$((${errs[-1]%.*} + e))
    read -r a b p e < <(flow_round oneshot); one_rate+=("$a") one_cpu+=("$b") one_p50+=("$p"); errs[-1]=$((${errs[-1]%.*} + e))
done
kill -TERM "$SPID"; wait "$SPID" || true; SPID=

python3 - "$HERE/../../docs/BENCHMARKS.md" "${inproc[*]}" "${svc[*]}" "${p50[*]}" "${p99[*]}" "${cpu[*]}" "${errs[*]}" "$ROUNDS" "$SECS" "$CONNS" \
    "${del_rate[*]}" "${del_cpu[*]}" "${del_p50[*]}" "${one_rate[*]}" "${one_cpu[*]}" "${one_p50[*]}" <<'PY'
import sys, statistics, subprocess, os, datetime
md, inproc, svc, p50, p99, cpu, errs, rounds, secs, conns, dr, dc, dp, orr, oc, op = sys.argv[1:]
f = lambda s: [float(x) for x in s.split()]
inproc, svc, p50, p99, cpu, errs = f(inproc), f(svc), f(p50), f(p99), f(cpu), f(errs)
dr, dc, dp, orr, oc, op = f(dr), f(dc), f(dp), f(orr), f(oc), f(op)
secs = float(secs)
per_core = [s / 2 for s in svc]
per_cpu_s = [s * secs / c if c > 0 else 0 for s, c in zip(svc, cpu)]
ratio_core = [p / i for p, i in zip(per_core, inproc)]
ratio_cpu = [p / i for p, i in zip(per_cpu_s, inproc)]
secs_f = secs
del_cpu_s = [r * secs_f / c if c > 0 else 0 for r, c in zip(dr, dc)]
one_cpu_s = [r * secs_f / c if c > 0 else 0 for r, c in zip(orr, oc)]
one_vs_del = [o / d if d > 0 else 0 for o, d in zip(one_cpu_s, del_cpu_s)]
ms = lambda v: 1000.0 / v if v > 0 else 0
med = statistics.median
cpu_name = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), 'unknown')
out = f"""## bench/verifier — central verifier over HTTP vs in-process appraisal

`bench/verifier/run.sh build {int(secs)} {rounds} {conns}` (part of `make bench`), {datetime.date.today()}, {cpu_name}, 2 cores.
Service: `vmesh verifier serve --threads 2` pinned to cores 0-1 (libmicrohttpd thread pool, epoll). Load: `bench_verifier_loadgen`, {conns} keep-alive connections, each running the Veraison flow back to back (`POST newSession?nonce=` → `POST` the PSA token for that nonce → 200 with the EAR), on the **same two cores** (the machine has no others). A verification = both requests; latency is measured per verification. In-process: `bench_appraise` on one core (decode + verify + compare + EAR sign), measured in each round just before the load. {rounds} rounds of {int(secs)} s (+1 s warm-up); medians.

| measure | median | min | max |
|---|---:|---:|---:|
| in-process appraisals/s (1 core) | {med(inproc):,.0f} | {min(inproc):,.0f} | {max(inproc):,.0f} |
| service verifications/s (2 cores, shared with the load generator) | {med(svc):,.0f} | {min(svc):,.0f} | {max(svc):,.0f} |
| service verification latency p50 (µs) | {med(p50):,.0f} | {min(p50):,.0f} | {max(p50):,.0f} |
| service verification latency p99 (µs) | {med(p99):,.0f} | {min(p99):,.0f} | {max(p99):,.0f} |
| service CPU seconds per wall second | {med([c / secs for c in cpu]):.2f} | {min([c / secs for c in cpu]):.2f} | {max([c / secs for c in cpu]):.2f} |
| service verifications per core (rate / 2) | {med(per_core):,.0f} | {min(per_core):,.0f} | {max(per_core):,.0f} |
| service verifications per CPU-second it used | {med(per_cpu_s):,.0f} | {min(per_cpu_s):,.0f} | {max(per_cpu_s):,.0f} |
| **ratio per core to in-process** (goal ≥ 0.5) | **{med(ratio_core):.2f}** | {min(ratio_core):.2f} | {max(ratio_core):.2f} |
| ratio per service CPU-second to in-process | {med(ratio_cpu):.2f} | {min(ratio_cpu):.2f} | {max(ratio_cpu):.2f} |
| failed verifications (non-200 or not complete) | {int(sum(errs))} | | |

Per-verification flows on the same service in each round (DECISIONS D42): the relying party's Veraison flow
(`newSession` → evidence → `DELETE`, three requests, `-f session-delete`) against vmesh's one-request appraisal
(`POST /vmesh/v1/appraise?nonce=` with the evidence, `-f oneshot`), both {conns} keep-alive connections.

| measure | median | min | max |
|---|---:|---:|---:|
| 3 requests (newSession, evidence, DELETE): verifications/s | {med(dr):,.0f} | {min(dr):,.0f} | {max(dr):,.0f} |
| 3 requests: verifications per service CPU-second | {med(del_cpu_s):,.0f} | {min(del_cpu_s):,.0f} | {max(del_cpu_s):,.0f} |
| 3 requests: service CPU per verification (ms) | {ms(med(del_cpu_s)):.3f} | {ms(max(del_cpu_s)):.3f} | {ms(min(del_cpu_s)):.3f} |
| 3 requests: latency p50 (µs) | {med(dp):,.0f} | {min(dp):,.0f} | {max(dp):,.0f} |
| 1 request (`/vmesh/v1/appraise`): verifications/s | {med(orr):,.0f} | {min(orr):,.0f} | {max(orr):,.0f} |
| 1 request: verifications per service CPU-second | {med(one_cpu_s):,.0f} | {min(one_cpu_s):,.0f} | {max(one_cpu_s):,.0f} |
| 1 request: service CPU per verification (ms) | {ms(med(one_cpu_s)):.3f} | {ms(max(one_cpu_s)):.3f} | {ms(min(one_cpu_s)):.3f} |
| 1 request: latency p50 (µs) | {med(op):,.0f} | {min(op):,.0f} | {max(op):,.0f} |
| **1 request / 3 requests, verifications per CPU-second** | **{med(one_vs_del):.2f}** | {min(one_vs_del):.2f} | {max(one_vs_del):.2f} |
"""
sys.stdout.write(out)
subprocess.run([sys.executable, os.path.join(os.path.dirname(md), '..', 'bench', 'lib', 'mdsection.py'), 'verifier', md], input=out.encode(), check=True)
PY
