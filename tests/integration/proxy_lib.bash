# Shared setup for the proxy integration tests (sourced after lib.bash; not
# a test itself). Builds in $T: a CA with SVIDs for a server and a client
# sidecar, a psa-sim platform for each (IAK, claims, measured workload),
# RV JSON files (the client trusts the server's platform and vice versa),
# an epoch bell, a python3 HTTP app serving $T/www, and YAML configs.
# Everything listens on 127.0.0.1 on free ports.
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }

px_pids=()
px_kill_all() { local p; for p in "${px_pids[@]}"; do kill "$p" 2>/dev/null; done; for p in "${px_pids[@]}"; do wait "$p" 2>/dev/null; done; }
cleanup_hooks+=("px_kill_all")

# wait_port PORT [SECONDS]: until something listens on 127.0.0.1:PORT
wait_port() {
    local i n=$(( ${2:-10} * 20 ))
    for ((i = 0; i < n; i++)); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
# wait_ready ADMINPORT [SECONDS]: until /ready says 200
wait_ready() {
    local i n=$(( ${2:-15} * 10 ))
    for ((i = 0; i < n; i++)); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
# wait_not_ready ADMINPORT CAUSE [SECONDS]: /ready answers 503 with CAUSE in its body
wait_not_ready() {
    local i n=$(( ${3:-15} * 10 )) body
    for ((i = 0; i < n; i++)); do
        body=$(curl -s -w ' HTTP%{http_code}' "http://127.0.0.1:$1/ready" 2>/dev/null) || body=""
        case "$body" in *"$2"*HTTP503) return 0 ;; esac
        sleep 0.1
    done
    return 1
}
metric() { # metric ADMINPORT 'name{labels}' -> value (0 when absent)
    curl -s "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2; f=1 } END { if (!f) print 0 }'
}

# px_platform WHO WORKLOAD: a psa-sim platform in the current directory:
# WHO-iak.pem/.pub, WHO-fw, WHO-workload (holding WORKLOAD) and WHO-claims.json.
px_platform() { psa_sim_platform "$1" vmesh-proxy-test-impl "firmware of $1" "$2"; }

# px_start_verifier NAME EARKEY WORKLOAD [PORT [TLSNAME]]: an https verifier
# (`vmesh verifier serve`, TLS key TLSNAME, default vtls) appraising with
# $T/client-rv.json and attesting the psa-sim platform px_platform made for
# "verifier", running WORKLOAD; sets NAME_PID and NAME_PORT (upper case).
px_start_verifier() {
    "$VMESH" verifier serve --listen "127.0.0.1:${4:-0}" --key "$2" --rv "$T/client-rv.json" \
        --tls-cert "$T/${5:-vtls}-chain.pem" --tls-key "$T/${5:-vtls}.key" --client-rate off \
        --attest psa-sim --attest-opt "iak=$T/verifier-iak.pem" --attest-opt "claims=$T/verifier-claims.json" \
        --attest-opt "measure=BL=$T/verifier-fw" --attest-opt "measure=workload=$T/$3" ${PX_VERIFIER_ARGS:-} \
        >"$T/$1.out" 2>"$T/$1.log" &
    px_pids+=($!)
    eval "${1^^}_PID=$!"
    local p="" i
    for i in $(seq 150); do
        p=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$T/$1.log"); [ -n "$p" ] && break; sleep 0.1
    done
    [ -n "$p" ] || { echo "verifier $1 did not start"; cat "$T/$1.log"; exit 1; }
    eval "${1^^}_PORT=$p"
}

px_setup() {
    cd "$T" || exit 1
    "$VMESH" ca init --trust-domain example.org --out ca >/dev/null || { echo "ca init failed"; exit 1; }
    "$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/ns/shop/sa/server --out server >/dev/null
    "$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/ns/shop/sa/client --out client >/dev/null
    "$VMESH" keygen --type ec-p256 -o bell.key --pub bell.pub >/dev/null
    mkdir -p bellweb
    # The bell rings now and then hourly: a marker rung once is valid for
    # two minutes only (rvp tick's default period of 60 s), which a test on
    # a loaded machine can outlive (its evidence then turns stale-epoch).
    "$VMESH" rvp tick --key bell.key --out bellweb --every 3600 >"$T/tick.log" 2>&1 &
    px_pids+=($!)
    local i
    for ((i = 0; i < 600; i++)); do [ -s bellweb/bell.cwt ] && break; sleep 0.1; done
    [ -s bellweb/bell.cwt ] || { echo "rvp tick did not ring"; cat "$T/tick.log"; exit 1; }
    local who
    for who in server client; do
        px_platform "$who" "workload $who v1"
        px_rv_json "$who" "$(sha256sum "$who-workload" | cut -d' ' -f1)" > "$who-rv.json"
    done
    mkdir -p www
    head -c 1048576 /dev/urandom > www/big.bin
    for i in $(seq 1 20); do printf 'small file %d\n' "$i" > "www/s$i.txt"; done
    APP_PORT=$(free_port); IN_PORT=$(free_port); OUT_PORT=$(free_port)
    SADMIN=$(free_port); CADMIN=$(free_port)
}

# px_rv_json WHO WORKLOAD_DIGEST: RV JSON for WHO's platform
px_rv_json() {
    local impl
    impl=$(printf 'vmesh-proxy-test-impl-%-10s' "$1" | head -c 32 | base64 -w0)
    cat <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$impl",
    "measurements": [
      { "name": "BL", "digest": { "alg": "sha-256", "value": "$(sha256sum "$1-fw" | cut -d' ' -f1)" } },
      { "name": "workload", "digest": { "alg": "sha-256", "value": "$2" } } ],
    "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1-iak.pub") ] } ] }
JSON
}

# px_config ROLE EXTRA_LIMITS: writes $T/ROLE.yaml (server: inbound in front
# of the app; client: outbound to the server). The server appraises the
# client's platform (client-rv.json); the client the server's (server-rv.json).
px_config() {
    local role=$1 limits=${2:-}
    local peer_rv=client; [ "$role" = client ] && peer_rv=server
    cat > "$T/$role.yaml" <<YAML
identity:
  cert: $T/$role-chain.pem
  key: $T/$role.key
  bundle: $T/ca/bundle.pem
attester:
  platform: psa
  options:
    iak: $T/$role-iak.pem
    claims: $T/$role-claims.json
    measure: [ "BL=$T/$role-fw", "workload=$T/$role-workload" ]
verifier:
  rv-files: [ $T/$peer_rv-rv.active.json ]
  bell: { file: $T/bellweb/bell.cwt, key: $T/bell.pub, refresh: 1s }
admin:
  listen: 127.0.0.1:$([ "$role" = server ] && echo "$SADMIN" || echo "$CADMIN")
access-log:
  file: $T/$role-access.log
limits:
  workers: 2
  handshake-timeout: 5s
$limits
YAML
    if [ "$role" = server ]; then
        cat >> "$T/$role.yaml" <<YAML
inbound:
  - name: web
    listen: 127.0.0.1:$IN_PORT
    app: 127.0.0.1:$APP_PORT
    peer: spiffe://example.org/ns/shop/*
YAML
    else
        cat >> "$T/$role.yaml" <<YAML
outbound:
  - name: to-web
    listen: 127.0.0.1:$OUT_PORT
    upstreams: [ 127.0.0.1:$IN_PORT ]
    peer: spiffe://example.org/ns/shop/sa/server
YAML
    fi
    cp -f "$T/$peer_rv-rv.json" "$T/$peer_rv-rv.active.json" 2>/dev/null || true
}

start_app() {
    (cd "$T/www" && exec python3 -m http.server --bind 127.0.0.1 "$APP_PORT" >"$T/app.log" 2>&1) &
    px_pids+=($!); APP_PID=$!
    wait_port "$APP_PORT" 60 || { echo "app did not start"; exit 1; }
}

# start_proxy ROLE: starts vmesh proxy -c ROLE.yaml; PID in ${ROLE^^}_PID.
# PX_WRAP (e.g. "prlimit --nofile=256:256") is put in front of the command.
start_proxy() {
    # shellcheck disable=SC2086
    ${PX_WRAP:-} "$VMESH" proxy -c "$T/$1.yaml" ${PX_ARGS:-} >"$T/$1.out" 2>"$T/$1.err" &
    local pid=$!
    px_pids+=("$pid")
    eval "${1^^}_PID=$pid"
    local admin=$SADMIN; [ "$1" = client ] && admin=$CADMIN
    if [ -n "${PX_NOT_READY_CAUSE:-}" ]; then
        # The node must report itself not ready with this cause (e.g. its
        # central verifier refused): /ready 503 naming it, within the bound.
        wait_not_ready "$admin" "$PX_NOT_READY_CAUSE" 60 ||
            { echo "proxy $1: /ready never 503 naming \"$PX_NOT_READY_CAUSE\""; sed 's/^/  /' "$T/$1.err" | tail -20; exit 1; }
        return 0
    fi
    wait_ready "$admin" 60 || { echo "proxy $1 not ready"; sed 's/^/  /' "$T/$1.err" | tail -20; exit 1; }
}

# stop_proxy ROLE: SIGTERM, wait, check exit 0 and no sanitizer report
stop_proxy() {
    local pid; pid=$(eval echo "\${${1^^}_PID}")
    kill -TERM "$pid" 2>/dev/null
    local rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -eq 0 ]; then ok "proxy $1 exits 0 at SIGTERM"; else fail "proxy $1 exit $rc at SIGTERM"; tail -30 "$T/$1.err"; fi
    if grep -qE "LeakSanitizer|AddressSanitizer|runtime error" "$T/$1.err"; then
        fail "proxy $1: sanitizer report"; grep -A20 -E "Sanitizer|runtime error" "$T/$1.err" | head -40
    else ok "proxy $1: no sanitizer report"; fi
}

# start_nginx: nginx serving $T/www on $APP_PORT (keep-alive), instead of python
start_nginx() {
    command -v nginx >/dev/null || { echo "SKIP: nginx missing"; exit 77; }
    mkdir -p "$T/nginx"
    cat > "$T/nginx/nginx.conf" <<NGX
daemon off;
master_process off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fcgi; uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$APP_PORT; root $T/www; }
}
NGX
    nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" 2>"$T/nginx/start.err" &
    px_pids+=($!); APP_PID=$!
    wait_port "$APP_PORT" 60 || { echo "nginx did not start"; cat "$T/nginx/start.err"; exit 1; }
}

# start_slow_app: python app serving $T/www plus /slow?s=SECONDS
start_slow_app() {
    cat > "$T/slowapp.py" <<'PY'
import http.server, sys, time, urllib.parse, os
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/slow":
            s = float(urllib.parse.parse_qs(u.query).get("s", ["2"])[0])
            time.sleep(s)
            body = b"slow done\n"
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body); return
        return super().do_GET()
os.chdir(sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
    python3 "$T/slowapp.py" "$APP_PORT" "$T/www" >"$T/app.log" 2>&1 &
    px_pids+=($!); APP_PID=$!
    wait_port "$APP_PORT" 60 || { echo "app did not start"; exit 1; }
}

# start_echo_app: a TCP echo server on $APP_PORT (the app), for tests that
# watch established connections; and $T/echo.py, its client:
#   echo.py probe PORT STOPFILE OUT  one connection, a line every 50 ms, each
#       echo awaited (10 s at most); at STOPFILE writes to OUT a JSON summary
#       {n, failed, p50_ms, p99_ms, max_ms, first_error}
#   echo.py once PORT              one new connection, one line echoed; prints ok
#   echo.py hold PORT N FLAGFILE   opens N idle TCP connections, writes "open"
#       to FLAGFILE, closes them when FLAGFILE says "release"
start_echo_app() {
    cat > "$T/echo.py" <<'PY'
import json, os, socket, sys, threading, time
# once PORT: prints ok when "hello" comes back. admit-hold PORT OUT: writes
# OUT "admitted" or "refused <bytes>", holds the connection silently and
# appends "closed <wall-clock s>" once the other side ends it (600 s at most).
def hello(port, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"hello\n"); got = b""
    try:
        while len(got) < 6:
            d = s.recv(6 - len(got))
            if not d: break
            got += d
    except OSError: pass
    return s, got == b"hello\n", got
mode = sys.argv[1]
if mode == "serve":
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(sys.argv[2]))); ls.listen(1024)
    def echo(c):
        try:
            while True:
                d = c.recv(65536)
                if not d: break
                c.sendall(d)
        except OSError: pass
        c.close()
    while True:
        c, _ = ls.accept(); threading.Thread(target=echo, args=(c,), daemon=True).start()
elif mode == "probe":
    port, stop, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    lat, failed, err = [], 0, None
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    i = 0
    while not os.path.exists(stop):
        i += 1; msg = b"ping %d\n" % i; t0 = time.monotonic()
        try:
            s.sendall(msg); got = b""
            while len(got) < len(msg):
                d = s.recv(len(msg) - len(got))
                if not d: raise OSError("connection closed")
                got += d
            if got != msg: raise OSError("wrong echo %r" % got)
            lat.append((time.monotonic() - t0) * 1000)
        except OSError as e:
            failed += 1; err = err or str(e)
            try: s.close()
            except OSError: pass
            try: s = socket.create_connection(("127.0.0.1", port), timeout=10)
            except OSError as e2: err = err or str(e2)
        time.sleep(0.05)
    lat.sort(); q = lambda f: round(lat[min(len(lat) - 1, int(f * len(lat)))], 2) if lat else None
    json.dump({"n": len(lat) + failed, "failed": failed, "p50_ms": q(0.5), "p99_ms": q(0.99),
               "max_ms": round(lat[-1], 2) if lat else None, "first_error": err}, open(out, "w"))
elif mode == "once":
    s, ok, got = hello(int(sys.argv[2]), 10)
    print("ok" if ok else "failed: %r" % got)
elif mode == "admit-hold":
    s, ok, got = hello(int(sys.argv[2]), 30)
    open(sys.argv[3], "w").write("admitted\n" if ok else "refused %r\n" % got)
    s.settimeout(600)
    try:
        while s.recv(100): pass
    except OSError: pass
    open(sys.argv[3], "a").write("closed %.3f\n" % time.time())
elif mode == "hold":
    port, n, flag = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    socks = []
    for i in range(n):
        s = socket.socket(); s.setblocking(False)
        try: s.connect(("127.0.0.1", port))
        except BlockingIOError: pass
        except OSError: pass
        socks.append(s)
    time.sleep(1.0)
    open(flag, "w").write("open\n")
    while open(flag).read().strip() != "release":
        time.sleep(0.1)
    for s in socks: s.close()
PY
    python3 "$T/echo.py" serve "$APP_PORT" >"$T/app.log" 2>&1 &
    px_pids+=($!); APP_PID=$!
    wait_port "$APP_PORT" || { echo "echo app did not start"; exit 1; }
}
