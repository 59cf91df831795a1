#!/usr/bin/env bash
# bench/reattest: the cost of in-band re-attestation (issue 19.5; docs/ATLS.md
# "Re-attestation on an established connection", docs/PROXY.md
# "Re-attestation"). Two parts, each against a baseline of the same run:
#  A. `vmesh server` (the attester, answers) and `vmesh client` (the relying
#     party, asks every EVERY ms) hold one connection for SECS seconds with
#     an echo every 20 ms; the same without re-attestation is the baseline.
#     CPU is utime+stime of each process from /proc, sampled from 0.3 s after
#     start to the client's end; CPU per round = (CPU with - CPU without) /
#     rounds. Bytes are the TLS plaintext of the request and answer frames
#     (vmesh_atls_reattest_stats). Modes: epoch-fresh (evidence once per
#     epoch, the AK signs each request's binder; the RP's AR cache hits) and
#     passport (the server's own local verifier issues its passports,
#     --passport-key; one per epoch tick; the AK signs each binder).
#  B. bench/proxy's keep-alive case through a vmesh proxy pair: wrk -t2
#     -c32 on a 1 KiB file from nginx, the pair without re-attestation and
#     an identical pair with `reattestation: {every: 1s}` (both sides ask:
#     every connection re-attests twice a second, once each way), runs
#     alternating; requests/s, the ratio, rounds counted by the proxies'
#     metrics, and the proxies' CPU per request.
# Medians over ROUNDS alternating runs. Prints markdown tables; WRITE=1
# replaces the "reattest" section of docs/BENCHMARKS.md with them (that
# section also holds the bench/sase-scale passport-reattest run, so by
# default nothing is written).
# Usage: bench/reattest/run.sh BUILD_DIR [SECS] [ROUNDS] [EVERY_MS]
set -eu
BUILD_NAME=${1:-build}
BUILD=$(cd "$BUILD_NAME" && pwd)
SECS=${2:-8}
ROUNDS=${3:-3}
EVERY=${4:-50}
WRITE=${WRITE:-0}
HERE=$(cd "$(dirname "$0")" && pwd)
VMESH=$BUILD/src/cli/vmesh
[ -x "$VMESH" ] || { echo "bench/reattest: build first (make build)" >&2; exit 1; }
for t in wrk nginx python3; do command -v $t >/dev/null || { echo "bench/reattest: $t missing" >&2; exit 1; }; done
W=$(mktemp -d); PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { local i; for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
cpu() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null; }
HZ=$(getconf CLK_TCK)

"$VMESH" ca init --trust-domain bench.example --out ca >/dev/null
for who in server client; do
    "$VMESH" ca issue --ca ca --spiffe-id spiffe://bench.example/$who --out $who >/dev/null
done
for k in server-iak client-iak bell ear; do "$VMESH" keygen --type ec-p256 -o $k.pem --pub $k.pub >/dev/null; done
Z=$(head -c 32 /dev/zero | base64 -w0)
IMPL=$(printf 'bench-reattest-implementation-01' | base64 -w0)
cat > claims.json <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$IMPL", "psa-boot-seed": "$Z", "psa-nonce": "$Z",
  "psa-software-components": [ { "measurement-type": "workload", "measurement-value": "$Z", "signer-id": "$Z" } ] }
JSON
echo "bench workload" > workload
pem() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
cat > rv.json <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$IMPL",
  "measurements": [ { "name": "workload", "digest": { "alg": "sha-256", "value": "$(sha256sum workload | cut -d' ' -f1)" } } ],
  "keys": [ $(pem server-iak.pub), $(pem client-iak.pub) ] } ] }
JSON
mkdir www
"$VMESH" rvp tick --key bell.pem --out www >/dev/null
# the bell keeps ringing (a tick is valid two periods)
"$VMESH" rvp tick --key bell.pem --out www --every 30 >/dev/null 2>&1 &
PIDS+=($!)

# ---- A. vmesh client/server
COMMON=(--bundle ca/bundle.pem --claims claims.json --rv rv.json --bell www/bell.cwt --bell-key bell.pub
        --trust-verifier ear.pub --reattest -q)
# one MODE EVERY -> "server_ticks client_ticks rounds bytes_out bytes_in"
one() {
    local port s c s0 c0 s1 c1 extra=() v
    port=$(free_port)
    "$VMESH" server --listen 127.0.0.1:$port --cert server-chain.pem --key server.key --iak server-iak.pem \
        --measure workload=workload --passport-key ear.pem "${COMMON[@]}" --attest-mode "$1" 2>s.log &
    s=$!; PIDS+=($s)
    wait_port $port || { echo "bench/reattest: server did not start: $(tail -2 s.log)" >&2; exit 1; }
    [ "$2" != 0 ] && extra=(--reattest-every "$2")
    "$VMESH" client --connect 127.0.0.1:$port --cert client-chain.pem --key client.key --iak client-iak.pem \
        --measure workload=workload "${COMMON[@]}" --attest-mode epoch-fresh --message ping-0123456789 \
        --hold-ms $((SECS * 1000)) --interval-ms 20 "${extra[@]}" 2>c.log &
    c=$!; PIDS+=($c)
    sleep 0.3; s0=$(cpu $s); c0=$(cpu $c); s1=$s0; c1=$c0
    while kill -0 $c 2>/dev/null; do
        v=$(cpu $s); s1=${v:-$s1}; v=$(cpu $c); c1=${v:-$c1}
        sleep 0.05
    done
    wait $c || { echo "bench/reattest: client failed: $(tail -2 c.log)" >&2; exit 1; }
    kill $s; wait $s 2>/dev/null || true
    python3 - "$((s1 - s0))" "$((c1 - c0))" c.log <<'PY'
import re, sys
t = open(sys.argv[3]).read()
m = re.search(r"re-attested (\d+) times .*?(\d+) re-attestation bytes out, (\d+) in", t)
if not m:
    sys.exit("bench/reattest: no summary in the client's output: " + t[-300:])
print(sys.argv[1], sys.argv[2], m.group(1), m.group(2), m.group(3))
PY
}
A=""
for mode in epoch-fresh passport; do
    res=()
    for r in $(seq "$ROUNDS"); do
        base=$(one "$mode" 0); with=$(one "$mode" "$EVERY")
        res+=("$base $with")
    done
    A+=$(printf '%s\n' "${res[@]}" | python3 -c '
import sys, statistics as st
hz = float(sys.argv[2]); rows = []
for l in sys.stdin:
    b = list(map(int, l.split())); a, w = b[:5], b[5:]
    n = max(w[2], 1)
    rows.append(((w[0] - a[0]) * 1000 / hz / n, (w[1] - a[1]) * 1000 / hz / n, w[2], w[3] / n, w[4] / n,
                 w[0] * 1000 / hz, a[0] * 1000 / hz))
med = [st.median(c) for c in zip(*rows)]
every = " / ".join("%.3f" % r[0] for r in rows)
print("| %s | %.3f | %.3f | %d | %.0f | %.0f | %s |" % (sys.argv[1], med[0], med[1], med[2], med[3], med[4], every))
' "$mode" "$HZ")$'\n'
done

printf 'A (per mode): %s\n' "$A" >&2
# ---- B. bench/proxy keep-alive, with and without re-attestation every second
mkdir -p site nginx
head -c 1024 /dev/urandom > site/1k.bin
NGX=$(free_port)
cat > nginx/nginx.conf <<NGX
daemon off; master_process off; worker_processes 1; pid $W/nginx/pid; error_log $W/nginx/err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path $W/nginx/b; proxy_temp_path $W/nginx/p; fastcgi_temp_path $W/nginx/f;
  uwsgi_temp_path $W/nginx/u; scgi_temp_path $W/nginx/s;
  server { listen 127.0.0.1:$NGX backlog=4096; root $W/site; } }
NGX
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" & PIDS+=($!)
vconf() { # ROLE IN OUT ADMIN RT
    cat <<YAML
identity: { cert: $W/$1-chain.pem, key: $W/$1.key, bundle: $W/ca/bundle.pem }
attester: { platform: psa, options: { iak: $W/$1-iak.pem, claims: $W/claims.json, measure: [ "workload=$W/workload" ] } }
verifier: { rv-files: [ $W/rv.json ], bell: { file: $W/www/bell.cwt, key: $W/bell.pub } }
limits: { workers: 1, max-connections: 10000, idle-timeout: 10m, handshake-timeout: 30s }
access-log: { stderr: false }
admin: { listen: "127.0.0.1:$4" }
log-level: warn
$5
YAML
    if [ $1 = server ]; then echo "inbound: [ { listen: 127.0.0.1:$2, app: 127.0.0.1:$NGX } ]"
    else echo "outbound: [ { listen: 127.0.0.1:$3, upstreams: [ 127.0.0.1:$2 ], peer: spiffe://bench.example/server } ]"; fi
}
declare -A PORT PID ADM
for pair in off on; do
    rt=""; [ $pair = on ] && rt="reattestation: { every: 1s, deadline: 5s }"
    vin=$(free_port); vout=$(free_port); sa=$(free_port); ca=$(free_port)
    vconf server $vin $vout $sa "$rt" > s-$pair.yaml; vconf client $vin $vout $ca "$rt" > c-$pair.yaml
    "$VMESH" proxy -c s-$pair.yaml 2>s-$pair.err & PID[s$pair]=$!; PIDS+=($!)
    "$VMESH" proxy -c c-$pair.yaml 2>c-$pair.err & PID[c$pair]=$!; PIDS+=($!)
    PORT[$pair]=$vout; ADM[s$pair]=$sa; ADM[c$pair]=$ca
    wait_port $vin && wait_port $vout || { echo "bench/reattest: proxy pair $pair did not start" >&2; cat s-$pair.err c-$pair.err >&2; exit 1; }
    curl -sf -o /dev/null "http://127.0.0.1:$vout/1k.bin" || { echo "bench/reattest: pair $pair does not work" >&2; exit 1; }
done
wait_port $NGX
rounds() { # ADMIN -> passed rounds, both directions
    curl -s "http://127.0.0.1:$1/metrics" | awk '/^vmesh_reattestations_total\{.*result="passed"/ {s += $2} END {print s + 0}'
}
# wrk_run PAIR -> "rps rounds cpu_ms requests"
wrk_run() {
    local p=$1 r0 r1 c0 c1 out
    r0=$(( $(rounds ${ADM[s$p]}) + $(rounds ${ADM[c$p]}) ))
    c0=$(( $(cpu ${PID[s$p]}) + $(cpu ${PID[c$p]}) ))
    out=$(wrk -t2 -c32 -d"${SECS}s" "http://127.0.0.1:${PORT[$p]}/1k.bin" 2>&1)
    c1=$(( $(cpu ${PID[s$p]}) + $(cpu ${PID[c$p]}) ))
    sleep 0.5
    r1=$(( $(rounds ${ADM[s$p]}) + $(rounds ${ADM[c$p]}) ))
    echo "$out" | grep -qE "Socket errors|Non-2xx" && { echo "bench/reattest: wrk errors on pair $p: $out" >&2; exit 1; }
    python3 - "$out" $((r1 - r0)) $((c1 - c0)) "$HZ" <<'PY'
import re, sys
t = sys.argv[1]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
req = int(re.search(r"(\d+) requests in", t).group(1))
print(rps, sys.argv[2], int(sys.argv[3]) * 1000 / float(sys.argv[4]), req)
PY
}
for p in off on; do wrk -t2 -c32 -d2s "http://127.0.0.1:${PORT[$p]}/1k.bin" >/dev/null 2>&1; done
B=()
for r in $(seq "$ROUNDS"); do
    off=$(wrk_run off); on=$(wrk_run on)
    B+=("$off $on")
done
Bt=$(printf '%s\n' "${B[@]}" | python3 -c '
import sys, statistics as st
rows = [list(map(float, l.split())) for l in sys.stdin]
secs = float(sys.argv[1])
off = [r[0] for r in rows]; on = [r[4] for r in rows]
ratio = [r[4] / r[0] for r in rows]
rps_rounds = [r[5] / secs for r in rows]
cpu_off = [r[2] * 1000 / r[3] for r in rows]; cpu_on = [r[6] * 1000 / r[7] for r in rows]
f = lambda xs: " / ".join("%.2f" % x for x in xs)
print("| requests/s (1 KiB, 32 keep-alive conns) | %.0f | %.0f | %.2f | %s |" % (st.median(off), st.median(on), st.median(ratio), f(ratio)))
print("| re-attestation rounds/s (both proxies, both directions) | 0 | %.1f | | %s |" % (st.median(rps_rounds), f(rps_rounds)))
print("| proxies CPU per request (us) | %.1f | %.1f | %.2f | |" % (st.median(cpu_off), st.median(cpu_on), st.median(cpu_on) / st.median(cpu_off)))
' "$SECS")
LOAD=$(uptime | sed 's/.*load average: //')
CPU=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
SECTION=$(cat <<MD
## In-band re-attestation (bench/reattest)

\`bench/reattest/run.sh $BUILD_NAME $SECS $ROUNDS $EVERY\`, $(date -u +%Y-%m-%d), $CPU, $(nproc) CPUs shared with other jobs (load average at the end: $LOAD): read the ratios and medians, not the absolute numbers. Medians over $ROUNDS alternating runs; the last column shows every run.

A. One \`vmesh client\` (relying party, asks every $EVERY ms) and one \`vmesh server\` (attester) on one connection held $SECS s with an echo every 20 ms, against the same without re-attestation: CPU per round = (CPU with − CPU without) / rounds, bytes per round = TLS plaintext of request + answer frames.

| server attests in | attester CPU ms / round | relying party CPU ms / round | rounds | bytes out / round (request) | bytes in / round (answer) | attester ms/round, every run |
|---|---|---|---|---|---|---|
$A
B. bench/proxy's keep-alive case: wrk -t2 -c32 for $SECS s on a 1 KiB file from nginx through a vmesh proxy pair (one worker each, epoch-fresh both ways), one pair without re-attestation and one with \`reattestation: {every: 1s}\` on both sides (each connection re-attests once a second in each direction), runs alternating.

| | without | with, every 1 s | ratio (with / without) | ratio, every run |
|---|---|---|---|---|
$Bt
MD
)
echo "$SECTION"
[ "$WRITE" = 1 ] && echo "$SECTION" | python3 "$HERE/../lib/mdsection.py" reattest "$HERE/../../docs/BENCHMARKS.md"
exit 0
