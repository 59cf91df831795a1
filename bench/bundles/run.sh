#!/usr/bin/env bash
# bench/bundles: manifest polls per second that one nginx worker serves —
# GET /manifest.jws answered 200 (full manifest) and, with If-None-Match,
# 304 (what a verifier's poll costs while nothing changes) — next to the
# same two requests against `vmesh rvp serve` (libmicrohttpd, 2 threads)
# measured in the same run. nginx runs one worker pinned to core 0, wrk one
# thread pinned to core 1 (when taskset exists), 50 keep-alive connections.
# Usage: bench/bundles/run.sh BUILD_DIR [SECONDS] [ROUNDS]
set -eu
BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-4}
ROUNDS=${3:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
VMESH=$BUILD/src/cli/vmesh
[ -x "$VMESH" ] || { echo "bench/bundles: build first (make build)" >&2; exit 1; }
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "bench/bundles: needs nginx and wrk" >&2; exit 1; }
W=$(mktemp -d); chmod 755 "$W"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$W"' EXIT
cd "$W"
PIN0="taskset -c 0" PIN1="taskset -c 1"; command -v taskset >/dev/null || PIN0= PIN1=

# A realistic bundle: PSA reference values, an RP policy, a trust anchor.
"$VMESH" keygen --type ec-p256 -o rvp.pem --pub rvp.pub >/dev/null
mkdir -p in www tmp
cat >in/rv.json <<JSON
{"format": "vmesh-rv/1", "reference-values": [{"scheme": "psa", "class-id": "text:bench-impl-1",
 "measurements": [{"name": "BL", "digest": {"alg": "sha-256", "value": "$(printf '%064d' 1)"}},
                  {"name": "PRoT", "digest": {"alg": "sha-256", "value": "$(printf '%064d' 2)"}}]}]}
JSON
echo '{"format": "vmesh-policy/1", "id": "policy:bench"}' >in/policy.json
cp rvp.pub in/anchor.pem
"$VMESH" rvp publish --key rvp.pem --in in --out www --name bench >/dev/null
MSIZE=$(stat -c %s www/manifest.jws)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
NPORT=$(free_port)
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat >nginx.conf <<EOF
$USER_LINE
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $W/tmp/body; proxy_temp_path $W/tmp/proxy; fastcgi_temp_path $W/tmp/fastcgi;
    uwsgi_temp_path $W/tmp/uwsgi; scgi_temp_path $W/tmp/scgi;
    types { application/jose jws; }
    default_type application/octet-stream;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT;
        root $W/www;
        etag on;
        location = /manifest.jws { add_header Cache-Control "no-cache"; }
        location /sets/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
        location / { return 404; }
    }
}
EOF
$PIN0 nginx -p "$W" -c "$W/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
$PIN0 "$VMESH" rvp serve --root www --listen 127.0.0.1:0 >serve.out &
PIDS+=($!)
for _ in $(seq 50); do
    curl -fs -o /dev/null "http://127.0.0.1:$NPORT/manifest.jws" && grep -q listening serve.out 2>/dev/null && break
    sleep 0.1
done
VPORT=$(awk '/listening on/ {print $3}' serve.out)

etag() { curl -fsI "$1" | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}'; }
check304() { [ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $2" "$1")" = 304 ] || { echo "bench/bundles: $1 does not answer 304 to its ETag" >&2; exit 1; }; }
NURL="http://127.0.0.1:$NPORT/manifest.jws" VURL="http://127.0.0.1:$VPORT/manifest.jws"
NTAG=$(etag "$NURL") VTAG=$(etag "$VURL")
check304 "$NURL" "$NTAG"
check304 "$VURL" "$VTAG"

# run URL [ETAG] -> "requests/s p50_ms p99_ms"
run() {
    local out
    if [ -n "${2:-}" ]; then
        out=$($PIN1 wrk -t1 -c50 -d"${SECS}s" --latency -H "If-None-Match: $2" "$1")
    else
        out=$($PIN1 wrk -t1 -c50 -d"${SECS}s" --latency "$1")
    fi
    if echo "$out" | grep -q "Non-2xx or 3xx"; then echo "bench/bundles: errors from $1: $out" >&2; exit 1; fi
    echo "$out" | python3 -c '
import sys, re
t = sys.stdin.read()
def ms(v):  # wrk prints 812.00us, 1.23ms, 1.20s
    for suffix, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if v.endswith(suffix):
            return float(v[:-len(suffix)]) * scale
    return float(v)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1)); p99 = ms(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
print(rps, p50, p99)'
}
declare -A R
for r in $(seq "$ROUNDS"); do
    R[n200]+="$(run "$NURL");"
    R[n304]+="$(run "$NURL" "$NTAG");"
    R[v200]+="$(run "$VURL");"
    R[v304]+="$(run "$VURL" "$VTAG");"
done

python3 - "$HERE/../../docs/BENCHMARKS.md" "$SECS" "$ROUNDS" "$MSIZE" "$(nginx -v 2>&1 | sed 's/.*\///')" \
    "${R[n200]}" "${R[n304]}" "${R[v200]}" "${R[v304]}" <<'PY'
import sys, statistics, subprocess, os, datetime
md, secs, rounds, msize, nver = sys.argv[1:6]
runs = [[tuple(map(float, x.split())) for x in s.split(";") if x] for s in sys.argv[6:10]]
med = statistics.median
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), 'unknown')
names = ["nginx: 200 (full manifest)", "nginx: 304 (If-None-Match)", "vmesh rvp serve: 200", "vmesh rvp serve: 304"]
rows = []
for name, rr in zip(names, runs):
    rps = [x[0] for x in rr]
    rows.append(f"| {name} | {med(rps):,.0f} | {min(rps):,.0f} | {max(rps):,.0f} | {med([x[1] for x in rr]):.2f} | {med([x[2] for x in rr]):.2f} |")
n304 = med([x[0] for x in runs[1]])
out = f"""## bench/bundles — manifest polls per second that one nginx serves

`bench/bundles/run.sh build {secs} {rounds}`, {datetime.date.today()}, {cpu}.
nginx {nver} with one worker pinned to core 0, `wrk -t1 -c50` pinned to core 1, keep-alive, {rounds} rounds of {secs} s per row; `vmesh rvp serve` (libmicrohttpd, 2 threads, also on core 0) measured in the same run as the baseline. The manifest is {msize} bytes (3 sets).

| server: answer | polls/s (median) | min | max | p50 ms | p99 ms |
|---|---:|---:|---:|---:|---:|
""" + "\n".join(rows) + f"""

Unchanged polls are 304s: at a 30 s poll interval one nginx worker core answers the polls of about **{n304 * 30:,.0f} verifiers** ({n304:,.0f}/s × 30 s); a change costs each verifier one 200 plus the changed sets only (see `tests/integration/rvp.nginx-converge.sh`).
"""
sys.stdout.write(out)
subprocess.run([sys.executable, os.path.join(os.path.dirname(md), '..', 'bench', 'lib', 'mdsection.py'), 'bundles', md], input=out.encode(), check=True)
PY
