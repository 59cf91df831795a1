#!/usr/bin/env bash
# A central verifier that accepts and never answers (issue 12.5, 13.1):
# the PoP (inbound sidecar, verifier.central) runs every attested
# handshake step in its handshake pool, so connections established
# before the stall keep echoing through it while new peers wait for the
# verifier; those fail closed at limits.handshake-timeout (result timeout,
# the reason names the slow step), the workers stop accepting while more
# handshakes wait than limits.handshake-queue, and once the verifier
# answers again new peers are admitted. At most four steps per CPU run at
# once, but a step waiting for the verifier does not count (D50): with a
# pool of 4 x CPUs + 4 threads, as many steps wait for the silent verifier
# at once. Echo latencies of the established connections are printed, not
# judged (the machine may be loaded).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" verifier serve --key ear.pem --listen 127.0.0.1:0 --rv "$T/client-rv.json" >"$T/verifier.out" 2>"$T/verifier.log" &
px_pids+=($!)
VPORT=""
for _ in $(seq 1 300); do
    VPORT=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$T/verifier.log")
    [ -n "$VPORT" ] && break; sleep 0.1
done
[ -n "$VPORT" ] || { echo "verifier did not start"; cat "$T/verifier.log"; exit 1; }

# The gate between the PoP and the verifier: forwards while $T/gate says
# "open"; on "stall" it keeps accepting but forwards nothing either way.
GPORT=$(free_port)
echo open > "$T/gate"
cat > "$T/gate.py" <<'PY'
import socket, sys, threading, time
lport, vport, flag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def state():
    try: return open(flag).read().strip()
    except OSError: return "open"
def pump(a, b):
    a.settimeout(0.1)
    try:
        while True:
            if state() != "open":
                time.sleep(0.05); continue
            try: d = a.recv(65536)
            except socket.timeout: continue
            if not d: break
            b.sendall(d)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
def serve(c):
    try: v = socket.create_connection(("127.0.0.1", vport), timeout=5)
    except OSError: c.close(); return
    threading.Thread(target=pump, args=(c, v), daemon=True).start()
    threading.Thread(target=pump, args=(v, c), daemon=True).start()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport)); ls.listen(1024)
while True:
    c, _ = ls.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$T/gate.py" "$GPORT" "$VPORT" "$T/gate" >"$T/gate.log" 2>&1 &
px_pids+=($!)
wait_port "$GPORT" 60 || { echo "gate did not start"; exit 1; }

NCPU=$(nproc); BOUND=$((4 * NCPU)); [ "$BOUND" -lt 4 ] && BOUND=4
NTH=$((BOUND + 4))
px_config server "  handshake-threads: $NTH
  handshake-queue: 4"
sed -i "s|^verifier:|verifier:\n  central: { url: \"http://127.0.0.1:$GPORT\", key: $T/ear.pub, cache: 1s, insecure-plain-http: true }|" "$T/server.yaml"
px_config client
start_echo_app
start_proxy server
start_proxy client
grep -q "handshake pool: $NTH threads, at most $BOUND running at once" "$T/server.err" \
    && ok "pool sized by limits.handshake-threads ($NTH), at most $BOUND steps running at once" \
    || fail "no pool line: $(grep -m1 'handshake pool' "$T/server.err")"

r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r" = ok ] && ok "central mode admits a peer through the gate" || fail "first connection: $r"

# Two established connections echo a line every 50 ms from now on.
python3 "$T/echo.py" probe "$OUT_PORT" "$T/stop1" "$T/before1.json" &
p1=$!
python3 "$T/echo.py" probe "$OUT_PORT" "$T/stop2" "$T/before2.json" &
p2=$!
for _ in $(seq 1 200); do
    [ "$(metric "$SADMIN" 'vmesh_connections_active{direction="inbound"}')" -ge 2 ] && break; sleep 0.1
done
sleep 2
echo stall > "$T/gate"
sleep 1.5   # the AR cache entries (cache: 1s) expire: new handshakes need the verifier

# NTH + 4 new peers while the verifier never answers: every pool thread
# waits on it (the waits do not count against the bound of BOUND running
# steps, D50), the rest queue (past 4 the workers stop accepting for a
# moment).
NNEW=$((NTH + 4))
t0=$(date +%s%N)
newpids=()
for i in $(seq 1 $NNEW); do python3 "$T/echo.py" once "$OUT_PORT" > "$T/new.$i" 2>&1 & newpids+=($!); done
running=0; queued=0; most=0
for _ in $(seq 1 60); do
    running=$(metric "$SADMIN" vmesh_handshake_running); queued=$(metric "$SADMIN" vmesh_handshake_queue)
    [ "$running" -gt "$most" ] && most=$running
    [ "$most" -ge "$NTH" ] && break; sleep 0.1
done
echo "  while stalled: at most $most handshake steps running (bound $BOUND, threads $NTH), $queued queued"
[ "$most" -ge 1 ] && ok "handshake steps wait in the pool, not in the workers ($most running)" || fail "running: $most"
[ "$most" -gt "$BOUND" ] && ok "steps waiting for the verifier do not count against the bound ($most > $BOUND)" \
    || fail "only $most steps running while the verifier is silent: waits count against the bound of $BOUND"
wait "${newpids[@]}"
el=$(( ($(date +%s%N) - t0) / 1000000 ))
admitted=$(cat "$T"/new.* | grep -c '^ok$' || true)
echo "  $NNEW new peers during the stall: $admitted admitted, all done after $el ms"
[ "$admitted" = 0 ] && ok "new peers fail closed while the verifier is silent" || fail "$admitted new peers admitted during the stall"
to=$(metric "$SADMIN" 'vmesh_connections_total{direction="inbound",result="timeout"}')
[ "$to" -ge 1 ] && ok "refused at the handshake timeout ($to timeouts)" || fail "timeouts: $to"
grep -q '"result":"timeout".*attester or verifier slow' "$T/server-access.log" && ok "access log names the slow step" || fail "no slow-step reason in the access log"
bp=$(metric "$SADMIN" vmesh_handshake_backpressure_total)
echo "  workers stopped accepting $bp times (handshake-queue 4)"

touch "$T/stop1" "$T/stop2"; wait $p1 $p2
for f in before1 before2; do
    echo "  established connection $f: $(cat "$T/$f.json")"
    [ "$(json_get "$T/$f.json" 'd["failed"]')" = 0 ] && [ "$(json_get "$T/$f.json" 'd["n"]')" -ge 20 ] \
        && ok "established connection ($f) echoed throughout the stall" || fail "established connection $f: $(cat "$T/$f.json")"
done

echo open > "$T/gate"
ok_after=""
for _ in $(seq 1 20); do
    r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); [ "$r" = ok ] && { ok_after=1; break; }; sleep 0.5
done
[ -n "$ok_after" ] && ok "the verifier answers again: new peers admitted" || fail "not admitted after the stall: $r"
stop_proxy client
stop_proxy server
finish
