#!/usr/bin/env bash
# bench/proxy: a vmesh proxy pair (outbound -> attested mTLS -> inbound)
# against an HAProxy pair doing plain mTLS (mode tcp) with the same
# certificates, cipher suite (TLS_AES_256_GCM_SHA384) and group (X25519),
# both in front of the same nginx on 127.0.0.1, measured in one run with wrk:
# requests/s and p50/p99 latency on a 1 KiB file over keep-alive
# connections, throughput (MB/s) on a 1 MiB file, and memory per idle
# connection (RSS of both proxies before/after N idle connections through
# the pair, divided by N). One worker thread per proxy (nbthread 1).
# Churn: a new connection per request (wrk -H 'Connection: close'); all
# clients resuming their TLS session, half of them never resuming (a second
# client-side listener with resumption off: vmesh `resumption: false`,
# HAProxy `no-ssl-reuse`), and keep-alive latency while 16 clients churn.
# Neither pair sends the CA's self-signed root that ends the chain files:
# vmesh leaves trust anchors out of the chain it sends (DECISIONS D48),
# HAProxy is given `ssl-skip-self-issued-ca`, its own option for that.
# With stunnel4 installed, a plain OpenSSL mTLS pair (stunnel, same
# certificates, suite and group) is measured in the churn rows too.
# Usage: bench/proxy/run.sh BUILD_DIR [SECONDS] [IDLE_CONNECTIONS]
#   env ROUNDS=N: alternating rounds (default 3); the table shows medians.
#   env HS_THREADS=N: limits.handshake-threads of both vmesh proxies (default:
#   the proxy's own, 4 per CPU), to compare the handshake pool's sizes.
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
VOUTN=$(port) HOUTN=$(port) CADM=$(port) SIN=$(port) SOUT=$(port) SOUTN=$(port)
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)
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
limits: { workers: 1, max-connections: 100000, idle-timeout: 10m, handshake-timeout: 30s${HS_THREADS:+, handshake-threads: $HS_THREADS} }
access-log: { stderr: false }
log-level: warn
YAML
    if [ $1 = server ]; then
        echo "inbound: [ { listen: 127.0.0.1:$VIN, app: 127.0.0.1:$NGX } ]"
        echo "admin: { listen: 127.0.0.1:$VADM }"
    else
        echo "outbound: [ { listen: 127.0.0.1:$VOUT, upstreams: [ 127.0.0.1:$VIN ], peer: spiffe://bench.example/server },"
        echo "            { listen: 127.0.0.1:$VOUTN, upstreams: [ 127.0.0.1:$VIN ], peer: spiffe://bench.example/server, resumption: false } ]"
        echo "admin: { listen: 127.0.0.1:$CADM }"
    fi
}
vconf server > vserver.yaml; vconf client > vclient.yaml
"$VMESH" proxy -c vserver.yaml 2>vserver.err & VSP=$!; pids+=($VSP)
"$VMESH" proxy -c vclient.yaml 2>vclient.err & VCP=$!; pids+=($VCP)
cat > hserver.cfg <<HA
global
  nbthread 1
  maxconn 9000
  ssl-skip-self-issued-ca
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
# the second frontend/backend: the same client, never resuming (no-ssl-reuse)
cat > hclient.cfg <<HA
global
  nbthread 1
  maxconn 9000
  ssl-skip-self-issued-ca
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
frontend fen
  bind 127.0.0.1:$HOUTN
  default_backend ben
backend ben
  server up 127.0.0.1:$HIN ssl crt $W/client-haproxy.pem ca-file $W/ca/bundle.pem verify required no-ssl-reuse
HA
haproxy -f hserver.cfg -db 2>hserver.err & HSP=$!; pids+=($HSP)
haproxy -f hclient.cfg -db 2>hclient.err & HCP=$!; pids+=($HCP)
if [ -n "$STUNNEL" ]; then
    # plain OpenSSL mTLS: stunnel (one process per side), same certificates,
    # TLS 1.3 only, same suite and group; the second client service never resumes
    cat > sserver.conf <<ST
foreground = yes
pid =
debug = 3
output = $W/sserver.log
[in]
accept = 127.0.0.1:$SIN
connect = 127.0.0.1:$NGX
cert = $W/server-chain.pem
key = $W/server.key
CAfile = $W/ca/bundle.pem
requireCert = yes
verifyChain = yes
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
curves = X25519
ST
    cat > sclient.conf <<ST
foreground = yes
pid =
debug = 3
output = $W/sclient.log
[out]
client = yes
accept = 127.0.0.1:$SOUT
connect = 127.0.0.1:$SIN
cert = $W/client-chain.pem
key = $W/client.key
CAfile = $W/ca/bundle.pem
verifyChain = yes
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
curves = X25519
[outn]
client = yes
accept = 127.0.0.1:$SOUTN
connect = 127.0.0.1:$SIN
cert = $W/client-chain.pem
key = $W/client.key
CAfile = $W/ca/bundle.pem
verifyChain = yes
sslVersionMin = TLSv1.3
ciphersuites = TLS_AES_256_GCM_SHA384
curves = X25519
sessionResume = no
ST
    "$STUNNEL" sserver.conf 2>sserver.err & pids+=($!)
    "$STUNNEL" sclient.conf 2>sclient.err & pids+=($!)
fi
for p in $NGX $VIN $VOUT $VOUTN $HIN $HOUT $HOUTN; do wait_port $p; done
[ -z "$STUNNEL" ] || for p in $SIN $SOUT $SOUTN; do wait_port $p; done
curl -sf -o /dev/null "http://127.0.0.1:$VOUT/1k.bin" || { echo "vmesh pair does not work" >&2; cat vserver.err vclient.err >&2; exit 1; }
curl -sf -o /dev/null "http://127.0.0.1:$HOUT/1k.bin" || { echo "haproxy pair does not work" >&2; cat hserver.err hclient.err >&2; exit 1; }
curl -sf -o /dev/null "http://127.0.0.1:$VOUTN/1k.bin" && curl -sf -o /dev/null "http://127.0.0.1:$HOUTN/1k.bin" ||
    { echo "a no-resumption listener does not work" >&2; exit 1; }
if [ -n "$STUNNEL" ]; then
    curl -sf -o /dev/null "http://127.0.0.1:$SOUT/1k.bin" && curl -sf -o /dev/null "http://127.0.0.1:$SOUTN/1k.bin" ||
        { echo "stunnel pair does not work" >&2; cat sserver.err sclient.err sserver.log sclient.log >&2; exit 1; }
fi
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
# churn_half URL_RESUMING URL_NEW: 8 clients through each at once, a new
# connection per request -> "conn/s(both) p50 p99 (resuming) p50 p99 (new) err"
churn_half() {
    run_wrk "$1" 8 close > "$W/half.r" & local rw=$!
    run_wrk "$2" 8 close > "$W/half.n"
    wait $rw
    python3 - "$W/half.r" "$W/half.n" <<'PY'
import sys
r, n = (list(map(float, open(f).read().split())) for f in sys.argv[1:3])
print(r[0] + n[0], r[1], r[2], n[1], n[2], int(r[4] or n[4]))
PY
}
# vmesh's inbound handshakes, full and resumed (its /metrics)
vhs() { curl -s "http://127.0.0.1:$VADM/metrics" | awk '/^vmesh_handshakes_total\{direction="inbound"/ { printf "%s ", $2 }'; }
vs=() hs=() vb=() hb=() vc=() hc=() vk=() hk=() vh=() hh=() sc=() sh=() sk=() s0=() vhsplit=()
for r in $(seq "${ROUNDS:-3}"); do
    vs+=("$(run_wrk "http://127.0.0.1:$VOUT/1k.bin" 32)"); hs+=("$(run_wrk "http://127.0.0.1:$HOUT/1k.bin" 32)")
    vb+=("$(run_wrk "http://127.0.0.1:$VOUT/1m.bin" 8)"); hb+=("$(run_wrk "http://127.0.0.1:$HOUT/1m.bin" 8)")
    vc+=("$(run_wrk "http://127.0.0.1:$VOUT/1k.bin" 16 close)"); hc+=("$(run_wrk "http://127.0.0.1:$HOUT/1k.bin" 16 close)")
    b0=$(vhs)
    vh+=("$(churn_half "http://127.0.0.1:$VOUT/1k.bin" "http://127.0.0.1:$VOUTN/1k.bin")")
    b1=$(vhs)
    vhsplit+=("$(python3 -c "import sys; a=list(map(int,'$b0'.split())); b=list(map(int,'$b1'.split())); print(b[0]-a[0], b[1]-a[1])")")
    hh+=("$(churn_half "http://127.0.0.1:$HOUT/1k.bin" "http://127.0.0.1:$HOUTN/1k.bin")")
    vk+=("$(churn_ka "http://127.0.0.1:$VOUT/1k.bin")"); hk+=("$(churn_ka "http://127.0.0.1:$HOUT/1k.bin")")
    if [ -n "$STUNNEL" ]; then
        s0+=("$(run_wrk "http://127.0.0.1:$SOUT/1k.bin" 32)")
        sc+=("$(run_wrk "http://127.0.0.1:$SOUT/1k.bin" 16 close)")
        sh+=("$(churn_half "http://127.0.0.1:$SOUT/1k.bin" "http://127.0.0.1:$SOUTN/1k.bin")")
        sk+=("$(churn_ka "http://127.0.0.1:$SOUT/1k.bin")")
    fi
done
vm=$(idle_mem $VOUT $VCP $VSP); hm=$(idle_mem $HOUT $HCP $HSP)
active=$(curl -s "http://127.0.0.1:$VADM/metrics" | awk '$1=="vmesh_connections_total{direction=\"inbound\",result=\"ok\"}" {print $2}')
j() { local IFS=';'; echo "$*"; }
BENCH_BUILD="$BUILD" VH="$(j "${vh[@]}")" HH="$(j "${hh[@]}")" VHSPLIT="$(j "${vhsplit[@]}")" \
    S0="$(j "${s0[@]}")" SC="$(j "${sc[@]}")" SH="$(j "${sh[@]}")" SK="$(j "${sk[@]}")" \
    STUNNEL_VERSION="$([ -n "$STUNNEL" ] && "$STUNNEL" -version 2>&1 | grep -m1 -o "stunnel [0-9.]*" || true)" python3 - "$HERE/../../docs/BENCHMARKS.md" "$HERE/../lib/mdsection.py" "$SECS" "$NIDLE" "$vm" "$hm" "$vsuite" "$hsuite" \
    "$(IFS=';'; echo "${vs[*]}")" "$(IFS=';'; echo "${hs[*]}")" "$(IFS=';'; echo "${vb[*]}")" "$(IFS=';'; echo "${hb[*]}")" \
    "$(IFS=';'; echo "${vc[*]}")" "$(IFS=';'; echo "${hc[*]}")" "$(IFS=';'; echo "${vk[*]}")" "$(IFS=';'; echo "${hk[*]}")" \
    "$(uptime | sed 's/.*load average: //')" <<'PY'
import sys, subprocess, datetime, statistics, os
md, mdsec, secs, nidle, vm, hm, vsuite, hsuite = sys.argv[1:9]
runs = [[list(map(float, r.split())) for r in a.split(';')] for a in sys.argv[9:17]]
vs, hs, vb, hb, vc, hc, vk, hk = runs
load = sys.argv[17]
vm, hm = float(vm), float(hm)
env = lambda k: [list(map(float, r.split())) for r in os.environ.get(k, "").split(';') if r.strip()]
vh, hh, s0, sc, sh, sk = env("VH"), env("HH"), env("S0"), env("SC"), env("SH"), env("SK")
split = [tuple(map(int, r.split())) for r in os.environ.get("VHSPLIT", "").split(';') if r.strip()]
med = lambda rs, i: statistics.median(r[i] for r in rs)
allv = lambda rs, i: " / ".join(f"{r[i]:.1f}" if r[i] >= 10 else f"{r[i]:.2f}" for r in rs)
# goal: (">=", 1.0) -> vmesh >= 1.0 x HAProxy; ("<=", 1.1) -> vmesh <= 1.1 x; None: no goal stated
G1, L1, L11 = (">=", 1.0), ("<=", 1.0), ("<=", 1.1)
rows = [
  ("requests/s (1 KiB, 32 conns, keep-alive)", med(vs, 0), med(hs, 0), G1, allv(vs, 0), allv(hs, 0)),
  ("p50 latency ms (1 KiB)", med(vs, 1), med(hs, 1), L1, allv(vs, 1), allv(hs, 1)),
  ("p99 latency ms (1 KiB), keep-alive without churn", med(vs, 2), med(hs, 2), L1, allv(vs, 2), allv(hs, 2)),
  ("keep-alive p99 ms (1 KiB, 32 conns) while 16 clients churn", med(vk, 2), med(hk, 2), L1, allv(vk, 2), allv(hk, 2)),
  ("throughput MB/s (1 MiB, 8 conns)", med(vb, 3), med(hb, 3), G1, allv(vb, 3), allv(hb, 3)),
  (f"memory per idle connection, kB (both proxies, {nidle} conns)", vm, hm, L1, f"{vm:.1f}", f"{hm:.1f}"),
  ("new attested connections/s (a new connection per request, 16 clients, all resuming)", med(vc, 0), med(hc, 0), G1, allv(vc, 0), allv(hc, 0)),
  ("p50 latency ms, new connection per request", med(vc, 1), med(hc, 1), None, allv(vc, 1), allv(hc, 1)),
  ("p99 latency ms, new connection per request", med(vc, 2), med(hc, 2), L11, allv(vc, 2), allv(hc, 2)),
  ("new connections/s, half the clients new (8 resuming + 8 never resuming, at once)", med(vh, 0), med(hh, 0), G1, allv(vh, 0), allv(hh, 0)),
  ("p50 latency ms, half new: the resuming clients", med(vh, 1), med(hh, 1), None, allv(vh, 1), allv(hh, 1)),
  ("p99 latency ms, half new: the resuming clients", med(vh, 2), med(hh, 2), L11, allv(vh, 2), allv(hh, 2)),
  ("p50 latency ms, half new: the new (never resuming) clients", med(vh, 3), med(hh, 3), None, allv(vh, 3), allv(hh, 3)),
  ("p99 latency ms, half new: the new (never resuming) clients", med(vh, 4), med(hh, 4), L11, allv(vh, 4), allv(hh, 4)),
]
errs = sum(r[4] for rs in runs for r in rs) + sum(r[5] for rs in (vh, hh, sh) for r in rs) \
    + sum(r[4] for rs in (s0, sc, sk) for r in rs)
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), 'unknown')
out = [f"## bench/proxy — vmesh proxy pair vs HAProxy pair (mTLS)\n",
       f"`bench/proxy/run.sh {os.path.basename(os.environ.get('BENCH_BUILD', 'build'))} {secs} {nidle}`, {datetime.date.today()}, {cpu}, {os.cpu_count()} CPUs shared by "
       "wrk, nginx and both pairs (and, on this machine, by other jobs: read the ratios, not the absolute numbers). "
       "Each pair: client-side proxy (plain in) -> TLS 1.3 mutual auth -> server-side proxy -> nginx serving a static "
       "file; one worker thread per proxy; same certificates (P-256 SVIDs from `vmesh ca`), TLS_AES_256_GCM_SHA384, "
       "X25519; neither pair sends the CA's self-signed root (vmesh: DECISIONS D48; HAProxy: `ssl-skip-self-issued-ca`). The vmesh pair also attests both ways on every connection (psa-sim, epoch-fresh, AR cache); HAProxy "
       f"does plain mTLS in `mode tcp`. wrk -t2, {secs} s per run, {len(runs[0])} alternating rounds: the table shows medians, "
       "the last columns every round. Memory: RSS of both proxies of a pair before and 3 s after opening the idle "
       "connections through it, divided by their number. Churn rows: wrk `-H 'Connection: close'`, so every "
       "request is a new client connection and a new TLS connection between the proxies (vmesh: attested both "
       "ways, epoch-fresh, AR cache warm, outbound TLS session resumed when the ticket is cached; HAProxy: its "
       "default session reuse); half new: two wrk at once, 8 clients through the client-side listener that "
       "resumes and 8 through a second one that never resumes (vmesh `outbound[].resumption: false`, HAProxy "
       "`no-ssl-reuse`), so half the TLS connections are full handshakes, conn/s is their sum; the keep-alive "
       "row under churn runs both wrk loads at once on the same pair. "
       f"Load average at the end of the run: {load}.\n",
       f"Negotiated (vmesh inbound): {vsuite.strip()}  \nNegotiated (HAProxy frontend): {hsuite.strip()}\n",
       "| metric | vmesh | HAProxy | vmesh / HAProxy | goal | vmesh runs | HAProxy runs |", "|---|---|---|---|---|---|---|"]
for name, a, b, goal, ra, rb in rows:
    ratio = a / b if b else float('nan')
    if goal is None:
        verdict = "–"
    else:
        met = ratio >= goal[1] if goal[0] == ">=" else ratio <= goal[1]
        verdict = f"{goal[0].replace('>=', '≥').replace('<=', '≤')} {goal[1]:.1f}: {'met' if met else 'not met'}"
    out.append(f"| {name} | {a:.2f} | {b:.2f} | {ratio:.2f} | {verdict} | {ra} | {rb} |")
if split:
    out.append("\nvmesh inbound handshakes during the half-new runs (`vmesh_handshakes_total`, full / resumed, each "
               "round): " + ", ".join(f"{f} / {r}" for f, r in split) + " — the never-resuming half makes every "
               "one of its connections a full handshake; HAProxy's second backend has `no-ssl-reuse`.")
if sc:
    sv = os.environ.get("STUNNEL_VERSION", "stunnel").strip()
    out += ["", f"Plain OpenSSL mTLS pair in the same run: {sv} (one process per side, a thread per connection; "
            "same certificates, TLS 1.3 only, TLS_AES_256_GCM_SHA384, X25519; its never-resuming client service "
            "has `sessionResume = no`). Medians:", "",
            "| metric | vmesh | HAProxy | stunnel | vmesh / stunnel | stunnel runs |", "|---|---|---|---|---|---|"]
    for name, a, b, rs, i in [
        ("keep-alive p99 ms (1 KiB, 32 conns), without churn", med(vs, 2), med(hs, 2), s0, 2),
        ("keep-alive p99 ms while 16 clients churn", med(vk, 2), med(hk, 2), sk, 2),
        ("new connections/s, 16 clients all resuming", med(vc, 0), med(hc, 0), sc, 0),
        ("p99 ms, new connection per request, all resuming", med(vc, 2), med(hc, 2), sc, 2),
        ("new connections/s, half the clients new", med(vh, 0), med(hh, 0), sh, 0),
        ("p99 ms, half new: the new clients", med(vh, 4), med(hh, 4), sh, 4),
    ]:
        c = med(rs, i)
        out.append(f"| {name} | {a:.2f} | {b:.2f} | {c:.2f} | {a / c if c else float('nan'):.2f} | {allv(rs, i)} |")
out.append(f"\nwrk socket errors / non-2xx in any run: {'yes' if errs else 'none'}.")
subprocess.run([sys.executable, mdsec, "proxy", md], input="\n".join(out) + "\n", text=True, check=True)
print("\n".join(out))
PY
