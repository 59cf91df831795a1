#!/usr/bin/env bash
# bench/proxy/keybound.sh: new attested connections through `vmesh proxy`,
# key-bound (D38/D44: the TLS key is the AK, its SVID from `vmesh ca serve`)
# against the classic attested pair and an HAProxy plain-mTLS pair, in one
# run, same certificates authority, suite (TLS_AES_256_GCM_SHA384) and group
# (X25519), all in front of the same nginx. Every connection is a full
# handshake (vmesh `resumption: false`, HAProxy `no-ssl-reuse`): key-bound
# messages exist on full handshakes only. Measured with wrk (-t1, a new
# connection per request, `Connection: close`), rounds alternating the
# pairs: connections/s, p50/p99, and CPU time of the two proxies of a pair
# per connection (utime+stime from /proc, the number that survives a shared
# machine). Both vmesh pairs: epoch-fresh, AR cache warm, psa-sim; the
# key-bound pair's policy is `key-bound: require` and its counters must
# show every inbound handshake key-bound.
# Usage: bench/proxy/keybound.sh BUILD_DIR [SECONDS] [ROUNDS] [CLIENTS]
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-5}
ROUNDS=${3:-3}
NC=${4:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
VMESH=$BUILD/src/cli/vmesh
[ -x "$VMESH" ] || { echo "bench/proxy/keybound: build first ($VMESH missing)" >&2; exit 1; }
for t in wrk haproxy nginx python3 curl; do command -v $t >/dev/null || { echo "bench/proxy/keybound: $t missing" >&2; exit 1; }; done
ulimit -n 20000 2>/dev/null || true
W=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
cd "$W"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open" >&2; for f in "$W"/*.err; do echo "== $f" >&2; tail -n 5 "$f" >&2; done; return 1; }
wait_ready() { for _ in $(seq 1 600); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready")" = 200 ] && return 0; sleep 0.1; done; echo "admin $1 never ready" >&2; tail -n 5 "$W"/*.err >&2; return 1; }

# ---- material: one CA; classic SVIDs, bootstrap SVIDs for the key-bound pair, the issuer's own
"$VMESH" ca init --trust-domain bench.example --out ca >/dev/null
for id in server client kbserver kbclient issuer; do "$VMESH" ca issue --ca ca --spiffe-id spiffe://bench.example/$id --out $id >/dev/null; done
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
NGX=$(port) ISS=$(port)
VIN=$(port) VOUT=$(port) VADM=$(port) VCADM=$(port)
KIN=$(port) KOUT=$(port) KADM=$(port) KCADM=$(port)
HIN=$(port) HOUT=$(port)
cat > nginx/nginx.conf <<NGX
daemon off; master_process off; worker_processes 1; pid $W/nginx/pid; error_log $W/nginx/err;
events { worker_connections 20000; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path $W/nginx/b; proxy_temp_path $W/nginx/p; fastcgi_temp_path $W/nginx/f;
  uwsgi_temp_path $W/nginx/u; scgi_temp_path $W/nginx/s;
  server { listen 127.0.0.1:$NGX backlog=8192; root $W/www; } }
NGX
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" & pids+=($!)
"$VMESH" ca serve --ca ca --listen 127.0.0.1:$ISS --cert issuer-chain.pem --key issuer.key --bundle ca/bundle.pem \
    --rv server-rv.json --rv client-rv.json --max-ttl 1h 2>issuer.err & pids+=($!)
vconf() { # role (server|client) kind (classic|kb) in out admin
    local role=$1 kind=$2 peer=client id=$1; [ $role = client ] && peer=server
    [ $kind = kb ] && id=kb$role
    cat <<YAML
identity: { cert: $W/$id-chain.pem, key: $W/$id.key, bundle: $W/ca/bundle.pem$([ $kind = kb ] && echo ", keybound-issuer: { address: 127.0.0.1:$ISS, id: spiffe://bench.example/issuer }") }
attester: { platform: psa, $([ $kind = kb ] && echo "keybound: true, ")options: { iak: $W/$role-iak.pem, claims: $W/$role-claims.json, measure: [ "BL=$W/$role-fw" ] } }
verifier: { rv-files: [ $W/$peer-rv.json ], bell: { file: $W/bell.cwt, key: $W/bell.pub } }
limits: { workers: 1, max-connections: 100000, idle-timeout: 10m, handshake-timeout: 30s }
access-log: { stderr: false }
log-level: warn
admin: { listen: 127.0.0.1:$5 }
YAML
    [ $kind = kb ] && echo "policy: { inline: { key-bound: require } }"
    if [ $role = server ]; then
        echo "inbound: [ { listen: 127.0.0.1:$3, app: 127.0.0.1:$NGX } ]"
    else
        echo "outbound: [ { listen: 127.0.0.1:$4, upstreams: [ 127.0.0.1:$3 ], peer: spiffe://bench.example/$([ $kind = kb ] && echo kb)server, resumption: false } ]"
    fi
}
vconf server classic $VIN $VOUT $VADM > vserver.yaml; vconf client classic $VIN $VOUT $VCADM > vclient.yaml
vconf server kb $KIN $KOUT $KADM > kserver.yaml; vconf client kb $KIN $KOUT $KCADM > kclient.yaml
"$VMESH" proxy -c vserver.yaml 2>vserver.err & VSP=$!; pids+=($VSP)
"$VMESH" proxy -c vclient.yaml 2>vclient.err & VCP=$!; pids+=($VCP)
"$VMESH" proxy -c kserver.yaml 2>kserver.err & KSP=$!; pids+=($KSP)
"$VMESH" proxy -c kclient.yaml 2>kclient.err & KCP=$!; pids+=($KCP)
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
  server up 127.0.0.1:$HIN ssl crt $W/client-haproxy.pem ca-file $W/ca/bundle.pem verify required no-ssl-reuse
HA
haproxy -f hserver.cfg -db 2>hserver.err & HSP=$!; pids+=($HSP)
haproxy -f hclient.cfg -db 2>hclient.err & HCP=$!; pids+=($HCP)
for p in $NGX $ISS $VIN $VOUT $KIN $KOUT $HIN $HOUT; do wait_port $p; done
for a in $VADM $VCADM $KADM $KCADM; do wait_ready $a; done
for u in $VOUT $KOUT $HOUT; do
    curl -sf -o /dev/null "http://127.0.0.1:$u/1k.bin" || { echo "the pair on $u does not work" >&2; tail -n 5 "$W"/*.err >&2; exit 1; }
done
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2; f=1 } END { if (!f) print 0 }'; }

cpu_ticks() { # pids... -> utime+stime clock ticks of all
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done
    echo $t
}
run_churn() { # url pidA pidB -> "conn/s p50_ms p99_ms cpu_ms_per_conn err"
    local c0 c1 out
    c0=$(cpu_ticks $2 $3)
    out=$(wrk -t1 -c"$NC" -d"${SECS}s" --latency -H "Connection: close" "$1" 2>&1)
    c1=$(cpu_ticks $2 $3)
    HZ=$(getconf CLK_TCK) C=$((c1 - c0)) python3 -c '
import sys, re, os
t = sys.stdin.read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v); x = float(m.group(1))
    return x / 1000 if m.group(2) == "us" else x * 1000 if m.group(2) == "s" else x
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
n = int(re.search(r"(\d+) requests in", t).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", t).group(1)); p99 = ms(re.search(r"\s99%\s+(\S+)", t).group(1))
cpu = int(os.environ["C"]) * 1000.0 / int(os.environ["HZ"]) / max(n, 1)
print(rps, p50, p99, round(cpu, 3), int("Socket errors" in t or "Non-2xx" in t))' <<<"$out"
}
# warm-up: AR caches, epoch evidence, issuer SVIDs in force
for u in $VOUT $KOUT $HOUT; do wrk -t1 -c4 -d2s -H "Connection: close" "http://127.0.0.1:$u/1k.bin" >/dev/null 2>&1; done
kb0=$(metric $KADM 'vmesh_keybound_handshakes_total{direction="inbound",attester="peer"}')
kf0=$(metric $KADM 'vmesh_handshakes_total{direction="inbound",session="full"}')
vr=() kr=() hr=()
for r in $(seq 1 "$ROUNDS"); do
    vr+=("$(run_churn "http://127.0.0.1:$VOUT/1k.bin" $VSP $VCP)")
    kr+=("$(run_churn "http://127.0.0.1:$KOUT/1k.bin" $KSP $KCP)")
    hr+=("$(run_churn "http://127.0.0.1:$HOUT/1k.bin" $HSP $HCP)")
done
kb1=$(metric $KADM 'vmesh_keybound_handshakes_total{direction="inbound",attester="peer"}')
kf1=$(metric $KADM 'vmesh_handshakes_total{direction="inbound",session="full"}')
ko1=$(metric $KADM 'vmesh_keybound_handshakes_total{direction="inbound",attester="own"}')
vkb=$(metric $VADM 'vmesh_keybound_handshakes_total{direction="inbound",attester="peer"}')
iss=$(grep -c "issuer: issued" issuer.err || true)
j() { local IFS=';'; echo "$*"; }
python3 - "$HERE/../../docs/BENCHMARKS.md" "$HERE/../lib/mdsection.py" "$SECS" "$ROUNDS" "$NC" "$(j "${vr[@]}")" "$(j "${kr[@]}")" "$(j "${hr[@]}")" \
    "$((kb1 - kb0))" "$((kf1 - kf0))" "$ko1" "$vkb" "$iss" "$(uptime | sed 's/.*load average: //')" "$BUILD" <<'PY'
import sys, subprocess, datetime, statistics
md, mdsec, secs, rounds, nc = sys.argv[1:6]
vr, kr, hr = ([list(map(float, r.split())) for r in a.split(';')] for a in sys.argv[6:9])
kbd, kfull, kown, vkb, iss, load, build = sys.argv[9:16]
med = lambda rs, i: statistics.median(r[i] for r in rs)
allv = lambda rs, i: " / ".join(f"{r[i]:.3g}" for r in rs)
out = ["## bench/proxy/keybound — key-bound vs classic attested pair vs HAProxy, full handshakes", "",
       f"`bench/proxy/keybound.sh {build.rsplit('/', 1)[-1]} {secs} {rounds} {nc}`, {datetime.date.today()}; "
       f"load average at the end {load} (a shared 2-CPU machine: read the ratios and the CPU per connection). "
       f"wrk -t1 -c{nc} `Connection: close` for {secs} s per run, {rounds} rounds alternating the pairs; every "
       "TLS connection between the proxies is a full mutual handshake (vmesh `resumption: false`, HAProxy "
       "`no-ssl-reuse`). Each vmesh pair: one worker per proxy, psa-sim, epoch-fresh, AR cache warm. Key-bound "
       "pair: `attester.keybound: true`, SVIDs from `vmesh ca serve` (D44), policy `key-bound: require`. CPU "
       "ms/conn: utime+stime of both proxies of the pair over the run, divided by the requests wrk completed.", "",
       "| metric | classic vmesh | key-bound vmesh | HAProxy | key-bound / classic | key-bound / HAProxy | runs (classic; key-bound; HAProxy) |",
       "|---|---|---|---|---|---|---|"]
for name, i in [("new connections/s", 0), ("p50 ms", 1), ("p99 ms", 2), ("CPU ms per connection (both proxies)", 3)]:
    v, k, h = med(vr, i), med(kr, i), med(hr, i)
    out.append(f"| {name} | {v:.3g} | {k:.3g} | {h:.3g} | {k / v if v else float('nan'):.2f} | "
               f"{k / h if h else float('nan'):.2f} | {allv(vr, i)}; {allv(kr, i)}; {allv(hr, i)} |")
errs = any(r[4] for r in vr + kr + hr)
out += ["", f"Key-bound pair, measured runs: {kbd} of {kfull} full inbound handshakes carried the client's key-bound "
        f"(version 3) attestation; the server attested key-bound {kown} times in all; the classic pair {vkb} "
        f"(must be 0). The issuer issued {iss} SVIDs (one per proxy). wrk socket errors / non-2xx: "
        f"{'yes' if errs else 'none'}."]
subprocess.run([sys.executable, mdsec, "proxy-keybound", md], input="\n".join(out) + "\n", text=True, check=True)
print("\n".join(out))
PY
