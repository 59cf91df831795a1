#!/usr/bin/env bash
# Hostile peers at the inbound sidecar: a partial ClientHello that stalls
# and a silent connection are closed after limits.handshake-timeout; a peer
# that shuts its write side at once is closed promptly; a client that
# half-closes after its request still gets the whole answer; 10,000 idle
# connections: the sidecar stays responsive (an attested request succeeds),
# the connection limit refuses beyond it with a log line and a metric, and
# no file descriptor is left behind once they are gone.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
ulimit -n 20000 2>/dev/null || { echo "SKIP: cannot raise the fd limit"; exit 77; }
[ "$(ulimit -n)" -ge 20000 ] || { echo "SKIP: fd limit $(ulimit -n)"; exit 77; }
px_setup
px_config server "  handshake-timeout: 2s
  max-connections: 10100"
sed -i 's/  handshake-timeout: 5s//' "$T/server.yaml"
px_config client
start_app
start_proxy server
start_proxy client
curl -s -o /dev/null "http://127.0.0.1:$OUT_PORT/s1.txt"   # warm up
sleep 0.3
fds0=$(ls /proc/$SERVER_PID/fd | wc -l)

cat > "$T/hostile.py" <<'PY'
import socket, ssl, sys, time
port = int(sys.argv[2])
def close_time(s, limit=10):
    t0 = time.time(); s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
    except Exception:
        pass
    return time.time() - t0
if sys.argv[1] == "partial-hello":
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    o = ctx.wrap_bio(inc, out)
    try: o.do_handshake()
    except ssl.SSLWantReadError: pass
    hello = out.read()
    s = socket.create_connection(("127.0.0.1", port)); s.sendall(hello[: len(hello) // 2])
    print("%.2f" % close_time(s))
elif sys.argv[1] == "silent":
    s = socket.create_connection(("127.0.0.1", port)); print("%.2f" % close_time(s))
elif sys.argv[1] == "shut-write":
    s = socket.create_connection(("127.0.0.1", port)); s.shutdown(socket.SHUT_WR); print("%.2f" % close_time(s))
elif sys.argv[1] == "half-close":
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n"); s.shutdown(socket.SHUT_WR)
    data = b""; s.settimeout(20)
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    print(len(data.split(b"\r\n\r\n", 1)[1]))
elif sys.argv[1] == "flood":
    n = int(sys.argv[3]); socks = []; refused = 0
    for i in range(n):
        s = socket.socket(); s.setblocking(False)
        try: s.connect(("127.0.0.1", port))
        except BlockingIOError: pass
        socks.append(s)
    time.sleep(1.0)
    open(sys.argv[4], "w").write("open\n")
    # wait for the go signal to release
    while open(sys.argv[4]).read().strip() != "release":
        time.sleep(0.1)
    for s in socks:
        s.close()
PY

t=$(python3 "$T/hostile.py" partial-hello "$IN_PORT")
python3 -c "import sys; sys.exit(0 if 1.5 <= $t <= 4.5 else 1)" && ok "partial ClientHello closed after the handshake timeout ($t s)" || fail "partial ClientHello closed after $t s"
t=$(python3 "$T/hostile.py" silent "$IN_PORT")
python3 -c "import sys; sys.exit(0 if 1.5 <= $t <= 4.5 else 1)" && ok "silent connection closed after the handshake timeout ($t s)" || fail "silent connection closed after $t s"
t=$(python3 "$T/hostile.py" shut-write "$IN_PORT")
python3 -c "import sys; sys.exit(0 if $t < 1.0 else 1)" && ok "peer that shuts its write side is closed promptly ($t s)" || fail "shut-write closed after $t s"
n=$(python3 "$T/hostile.py" half-close "$OUT_PORT")
[ "$n" = 1048576 ] && ok "half-closed client gets the whole 1 MiB answer" || fail "half-closed client got $n bytes"
sleep 0.3
to=$(metric "$SADMIN" 'vmesh_connections_total{direction="inbound",result="timeout"}')
[ "$to" -ge 2 ] && ok "timeouts counted ($to)" || fail "timeouts: $to"

# 10,000 idle connections, then 150 beyond the limit; idle connections are
# held longer than the flood takes (reload with a longer handshake timeout)
sed -i 's/handshake-timeout: 2s/handshake-timeout: 60s/' "$T/server.yaml"
kill -HUP "$SERVER_PID"; sleep 0.5
python3 "$T/hostile.py" flood "$IN_PORT" 10000 "$T/flood1" &
f1=$!
for i in $(seq 1 100); do [ -s "$T/flood1" ] && break; sleep 0.2; done
active=$(metric "$SADMIN" 'vmesh_connections_active{direction="inbound"}')
[ "$active" -ge 9990 ] && ok "10,000 idle connections held ($active active)" || fail "active inbound: $active"
t0=$(date +%s%N)
code=$(curl -s -o "$T/r.out" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$OUT_PORT/s2.txt")
el=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$code" = 200 ] && cmp -s "$T/r.out" "$T/www/s2.txt" && ok "attested request succeeds beside 10,000 idle connections ($el ms)" || fail "request with the flood: $code"
python3 "$T/hostile.py" flood "$IN_PORT" 150 "$T/flood2" &
f2=$!
for i in $(seq 1 100); do [ -s "$T/flood2" ] && break; sleep 0.2; done
lim=$(metric "$SADMIN" 'vmesh_connections_total{direction="inbound",result="limit"}')
[ "$lim" -ge 50 ] && ok "connection limit refused $lim connections" || fail "limit refusals: $lim"
grep -q "connection refused: limits.max-connections (10100) reached\|connection refused: limits.max-connections" "$T/server.err" && ok "refusal logged" || fail "no refusal log line"
echo release > "$T/flood1"; echo release > "$T/flood2"
wait $f1 $f2
for i in $(seq 1 50); do
    [ "$(metric "$SADMIN" 'vmesh_connections_active{direction="inbound"}')" = 0 ] && break; sleep 0.2
done
sleep 0.5
fds1=$(ls /proc/$SERVER_PID/fd | wc -l)
[ "$fds1" -le "$fds0" ] && ok "no fd leak ($fds0 before, $fds1 after)" || fail "fd leak: $fds0 before, $fds1 after"
curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt" | grep -q 200 && ok "serving after the flood" || fail "not serving after the flood"
stop_proxy client
stop_proxy server
finish
