#!/usr/bin/env bash
# bench/proxy: a vmesh proxy pair (outbound -> attested mTLS -> inbound)
# against an HAProxy pair doing plain mTLS (mode tcp) with the same
# certificates, cipher suite (TLS_AES_256_GCM_SHA384) and group (X25519),
# both in front of the same nginx on 127.0.0.1, measured in one run with wrk:
# requests/s and p50/p99 latency on a 1 KiB file over keep-alive
# connections, throughput (MB/s) on a 1 MiB file, and memory per idle
# connection (RSS of both proxies before/after N idle connections through
# the pair, divided by N). One worker thread per proxy (nbthread 1).
# Usage: bench/proxy/run.sh BUILD_DIR [SECONDS] [IDLE_CONNECTIONS]
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-5}
NIDLE=${3:-2000}
HERE=$(cd "$(dirname "$0")" && pwd)
VMESH=$BUILD/src/cli/vmesh
[ -x "$VMESH" ] || { echo "bench/proxy: build first ($VMESH missing)" >&2; exit 1; }
for t in wrk haproxy nginx python3; do command -v $t >/dev/null || { echo "bench/proxy: $t missing" >&2; exit 1; }; done
ulimit -n 20000 2>/dev/null || true
W=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; for f in "$W"/*.err; do echo "== $f" >&2; tail -n 5 "$f" >&2; done; return 1; }

# ---- material
"$VMESH" ca init --trust-domain bench.example --out ca >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://bench.example/server --out server >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://bench.example/client --out client >/dev/null
cat server-chain.pem server.key > server-haproxy.pem
cat client-chain.pem client.key > client-haproxy.pem
"$VMESH" keygen --type ec-p256 -o bell.key --pub bell.pub >/dev/null
"$VMESH" rvp tick --key bell.key --out . >/dev/null
"$VMESH" rvp tick --key bell.key --out . --every 30 & pids+=($!)
Z=$(head -c 32 /dev/zero | base64 -w0)
for who in server client; do
    "$VMESH" keygen --type ec-p256 -o $who-iak.pem --pub $who-iak.pub >/dev/null
    printf 'fw %s\n' $who > $who-fw
    impl=$(printf 'bench-proxy-%-20s' $who | head -c 32 | base64 -w0)
    cat > $who-claims.json <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$impl", "psa-boot-seed": "$Z", "psa-nonce": "$Z",
  "psa-software-components": [ { "measurement-type": "BL", "measurement-value": "$Z", "signer-id": "$Z" } ] }
JSON
    cat > $who-rv.json <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$impl",
  "measurements": [ { "name": "BL", "digest": { "alg": "sha-256", "value": "$(sha256sum $who-fw | cut -d' ' -f1)" } } ],
  "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' $who-iak.pub) ] } ] }
JSON
done
mkdir -p www nginx
head -c 1024 /dev/urandom > www/1k.bin
head -c 1048576 /dev/urandom > www/1m.bin
NGX=$(port) VIN=$(port) VOUT=$(port) VADM=$(port) HIN=$(port) HOUT=$(port)
cat > nginx/nginx.conf <<NGX
daemon off; master_process off; worker_processes 1; pid $W/nginx/pid; error_log $W/nginx/err;
events { worker_connections 20000; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path $W/nginx/b; proxy_temp_path $W/nginx/p; fastcgi_temp_path $W/nginx/f;
  uwsgi_temp_path $W/nginx/u; scgi_temp_path $W/nginx/s;
  server { listen 127.0.0.1:$NGX backlog=8192; root $W/www; } }
NGX
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" & pids+=($!)
vconf() { # role
    local peer=client; [ $1 = client ] && peer=server
    cat <<YAML
identity: { cert: $W/$1-chain.pem, key: $W/$1.key, bundle: $W/ca/bundle.pem }
attester: { platform: psa, options: { iak: $W/$1-iak.pem, claims: $W/$1-claims.json, measure: [ "BL=$W/$1-fw" ] } }
verifier: { rv-files: [ $W/$peer-rv.json ], bell: { file: $W/bell.cwt, key: $W/bell.pub } }
limits: { workers: 1, max-connections: 100000, idle-timeout: 10m, handshake-timeout: 30s }
access-log: { stderr: false }
log-level: warn
YAML
    if [ $1 = server ]; then
        echo "inbound: [ { listen: 127.0.0.1:$VIN, app: 127.0.0.1:$NGX } ]"
        echo "admin: { listen: 127.0.0.1:$VADM }"
    else
        echo "outbound: [ { listen: 127.0.0.1:$VOUT, upstreams: [ 127.0.0.1:$VIN ], peer: spiffe://bench.example/server } ]"
    fi
}
vconf server > vserver.yaml; vconf client > vclient.yaml
"$VMESH" proxy -c vserver.yaml 2>vserver.err & VSP=$!; pids+=($VSP)
"$VMESH" proxy -c vclient.yaml 2>vclient.err & VCP=$!; pids+=($VCP)
cat > hserver.cfg <<HA
global
  nbthread 1
  maxconn 9000
  ssl-default-bind-ciphersuites TLS_AES_256_GCM_SHA384
  ssl-default-bind-curves X25519
  ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m
frontend fe
  bind 127.0.0.1:$HIN ssl crt $W/server-haproxy.pem ca-file $W/ca/bundle.pem verify required
  default_backend be
backend be
  server app 127.0.0.1:$NGX
HA
cat > hclient.cfg <<HA
global
  nbthread 1
  maxconn 9000
  ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m
frontend fe
  bind 127.0.0.1:$HOUT
  default_backend be
backend be
  server up 127.0.0.1:$HIN ssl crt $W/client-haproxy.pem ca-file $W/ca/bundle.pem verify required
HA
haproxy -f hserver.cfg -db 2>hserver.err & HSP=$!; pids+=($HSP)
haproxy -f hclient.cfg -db 2>hclient.err & HCP=$!; pids+=($HCP)
for p in $NGX $VIN $VOUT $HIN $HOUT; do wait_port $p; done
curl -sf -o /dev/null "http://127.0.0.1:$VOUT/1k.bin" || { echo "vmesh pair does not work" >&2; cat vserver.err vclient.err >&2; exit 1; }
curl -sf -o /dev/null "http://127.0.0.1:$HOUT/1k.bin" || { echo "haproxy pair does not work" >&2; cat hserver.err hclient.err >&2; exit 1; }
# the negotiated suite and group on each TLS hop (same for both)
vsuite=$(timeout 5 openssl s_client -connect 127.0.0.1:$VIN -cert client.pem -key client.key -CAfile ca/bundle.pem </dev/null 2>&1 | grep -E "^(New|Negotiated|Server Temp Key)" | tr '\n' ' ')
hsuite=$(timeout 5 openssl s_client -connect 127.0.0.1:$HIN -cert client.pem -key client.key -CAfile ca/bundle.pem </dev/null 2>&1 | grep -E "^(New|Negotiated|Server Temp Key)" | tr '\n' ' ')

run_wrk() { # url conns [close] -> "rps p50_ms p99_ms MBps err"; close: a new connection per request
    local hdr=(); [ "${3:-}" = close ] && hdr=(-H "Connection: close")
    wrk -t2 -c"$2" -d"${SECS}s" --latency "${hdr[@]}" "$1" 2>&1 | python3 -c '
import sys, re
t = sys.stdin.read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v); x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
def mb(v):
    m = re.match(r"([\d.]+)(B|KB|MB|GB)", v); x = float(m.group(1))
    return x * {"B": 1e-6, "KB": 1/1024, "MB": 1, "GB": 1024}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", t).group(1)); p99 = ms(re.search(r"\s99%\s+(\S+)", t).group(1))
tr = mb(re.search(r"Transfer/sec:\s+(\S+)", t).group(1))
err = "Socket errors" in t or "Non-2xx" in t
print(rps, p50, p99, tr, int(err))'
}
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/$1/status; }
idle_mem() { # port pidA pidB -> kB per connection (both proxies)
    local before after
    before=$(( $(rss_kb $2) + $(rss_kb $3) ))
    python3 - "$1" "$NIDLE" "$W/idle.flag" <<'PY' &
import socket, sys, time, os
port, n, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port)); socks.append(s)
    if i % 200 == 199: time.sleep(0.05)
open(flag, "w").write("up")
while os.path.exists(flag): time.sleep(0.1)
PY
    local py=$!
    while [ ! -s "$W/idle.flag" ]; do sleep 0.1; done
    sleep 3
    after=$(( $(rss_kb $2) + $(rss_kb $3) ))
    rm -f "$W/idle.flag"; wait $py
    sleep 1
    python3 -c "print(round(($after - $before) / $NIDLE, 1))"
}
# warm-up (every connection of the measured runs is new: vmesh attests each), then alternate the pairs
for url in "http://127.0.0.1:$VOUT/1k.bin" "http://127.0.0.1:$HOUT/1k.bin"; do wrk -t2 -c32 -d3s "$url" >/dev/null 2>&1; done
# churn_ka URL: keep-alive run (32 conns) while a second wrk opens a new
# connection per request (16 clients, Connection: close) through the same pair
churn_ka() {
    wrk -t1 -c16 -d"$((SECS + 1))s" -H "Connection: close" "$1" >/dev/null 2>&1 &
    local cw=$!
    sleep 0.5
    run_wrk "$1" 32
    wait $cw
}
vs=() hs=() vb=() hb=() vc=() hc=() vk=() hk=()
for r in 1 2 3; do
    vs+=("$(run_wrk "http://127.0.0.1:$VOUT/1k.bin" 32)"); hs+=("$(run_wrk "http://127.0.0.1:$HOUT/1k.bin" 32)")
    vb+=("$(run_wrk "http://127.0.0.1:$VOUT/1m.bin" 8)"); hb+=("$(run_wrk "http://127.0.0.1:$HOUT/1m.bin" 8)")
    vc+=("$(run_wrk "http://127.0.0.1:$VOUT/1k.bin" 16 close)"); hc+=("$(run_wrk "http://127.0.0.1:$HOUT/1k.bin" 16 close)")
    vk+=("$(churn_ka "http://127.0.0.1:$VOUT/1k.bin")"); hk+=("$(churn_ka "http://127.0.0.1:$HOUT/1k.bin")")
done
vm=$(idle_mem $VOUT $VCP $VSP); hm=$(idle_mem $HOUT $HCP $HSP)
active=$(curl -s "http://127.0.0.1:$VADM/metrics" | awk '$1=="vmesh_connections_total{direction=\"inbound\",result=\"ok\"}" {print $2}')
BENCH_BUILD="$BUILD" python3 - "$HERE/../../docs/BENCHMARKS.md" "$HERE/../lib/mdsection.py" "$SECS" "$NIDLE" "$vm" "$hm" "$vsuite" "$hsuite" \
    "$(IFS=';'; echo "${vs[*]}")" "$(IFS=';'; echo "${hs[*]}")" "$(IFS=';'; echo "${vb[*]}")" "$(IFS=';'; echo "${hb[*]}")" \
    "$(IFS=';'; echo "${vc[*]}")" "$(IFS=';'; echo "${hc[*]}")" "$(IFS=';'; echo "${vk[*]}")" "$(IFS=';'; echo "${hk[*]}")" \
    "$(uptime | sed 's/.*load average: //')" <<'PY'
import sys, subprocess, datetime, statistics, os
md, mdsec, secs, nidle, vm, hm, vsuite, hsuite = sys.argv[1:9]
runs = [[list(map(float, r.split())) for r in a.split(';')] for a in sys.argv[9:17]]
vs, hs, vb, hb, vc, hc, vk, hk = runs
load = sys.argv[17]
vm, hm = float(vm), float(hm)
med = lambda rs, i: statistics.median(r[i] for r in rs)
allv = lambda rs, i: " / ".join(f"{r[i]:.1f}" if r[i] >= 10 else f"{r[i]:.2f}" for r in rs)
rows = [
  ("requests/s (1 KiB, 32 conns, keep-alive)", med(vs, 0), med(hs, 0), True, allv(vs, 0), allv(hs, 0)),
  ("p50 latency ms (1 KiB)", med(vs, 1), med(hs, 1), False, allv(vs, 1), allv(hs, 1)),
  ("p99 latency ms (1 KiB)", med(vs, 2), med(hs, 2), False, allv(vs, 2), allv(hs, 2)),
  ("throughput MB/s (1 MiB, 8 conns)", med(vb, 3), med(hb, 3), True, allv(vb, 3), allv(hb, 3)),
  (f"memory per idle connection, kB (both proxies, {nidle} conns)", vm, hm, False, f"{vm:.1f}", f"{hm:.1f}"),
  ("new attested connections/s (a new connection per request, 16 clients)", med(vc, 0), med(hc, 0), True, allv(vc, 0), allv(hc, 0)),
  ("p50 latency ms, new connection per request", med(vc, 1), med(hc, 1), False, allv(vc, 1), allv(hc, 1)),
  ("p99 latency ms, new connection per request", med(vc, 2), med(hc, 2), False, allv(vc, 2), allv(hc, 2)),
  ("keep-alive p99 ms (1 KiB, 32 conns) while 16 clients churn", med(vk, 2), med(hk, 2), False, allv(vk, 2), allv(hk, 2)),
]
errs = sum(r[4] for rs in runs for r in rs)
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), 'unknown')
out = [f"## bench/proxy — vmesh proxy pair vs HAProxy pair (mTLS)\n",
       f"`bench/proxy/run.sh {os.path.basename(os.environ.get('BENCH_BUILD', 'build'))} {secs} {nidle}`, {datetime.date.today()}, {cpu}, {os.cpu_count()} CPUs shared by "
       "wrk, nginx and both pairs (and, on this machine, by other jobs: read the ratios, not the absolute numbers). "
       "Each pair: client-side proxy (plain in) -> TLS 1.3 mutual auth -> server-side proxy -> nginx serving a static "
       "file; one worker thread per proxy; same certificates (P-256 SVIDs from `vmesh ca`), TLS_AES_256_GCM_SHA384, "
       "X25519. The vmesh pair also attests both ways on every connection (psa-sim, epoch-fresh, AR cache); HAProxy "
       f"does plain mTLS in `mode tcp`. wrk -t2, {secs} s per run, three alternating rounds: the table shows medians, "
       "the last columns every round. Memory: RSS of both proxies of a pair before and 3 s after opening the idle "
       "connections through it, divided by their number. Churn rows: wrk `-H 'Connection: close'`, so every "
       "request is a new client connection and a new TLS connection between the proxies (vmesh: attested both "
       "ways, epoch-fresh, AR cache warm, outbound TLS session resumed when the ticket is cached; HAProxy: its "
       "default session reuse); the keep-alive row under churn runs both wrk loads at once on the same pair. "
       f"Load average at the end of the run: {load}.\n",
       f"Negotiated (vmesh inbound): {vsuite.strip()}  \nNegotiated (HAProxy frontend): {hsuite.strip()}\n",
       "| metric | vmesh | HAProxy | vmesh / HAProxy | goal | vmesh runs | HAProxy runs |", "|---|---|---|---|---|---|---|"]
for name, a, b, hi, ra, rb in rows:
    ratio = a / b if b else float('nan')
    met = (a >= b) if hi else (a <= b)
    out.append(f"| {name} | {a:.2f} | {b:.2f} | {ratio:.2f} | {'met' if met else 'not met'} | {ra} | {rb} |")
out.append(f"\nwrk socket errors / non-2xx in any run: {'yes' if errs else 'none'}.")
subprocess.run([sys.executable, mdsec, "proxy", md], input="\n".join(out) + "\n", text=True, check=True)
print("\n".join(out))
PY
