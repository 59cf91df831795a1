#!/usr/bin/env bash
# The admin endpoint under a junk flood (issue 13.3): 50 new connections a
# second that send nothing or one header byte every 0.5 s, held open, while
# a prober asks /ready and /metrics every 0.2 s the way a Kubernetes probe
# does. Every probe must be answered; a connection that trickles bytes is
# closed at its deadline (bytes do not extend it); the endpoint's own budget
# makes room by evicting the oldest incomplete connection, counted in
# /metrics.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
px_config server
start_echo_app
start_proxy server

cat > "$T/junk.py" <<'PY'
import socket, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
if mode == "trickle":
    # three connections sending a header byte every 0.5 s: when are they closed?
    t0 = time.monotonic(); socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    closed = [None] * 3
    for s in socks: s.setblocking(False)
    while None in closed and time.monotonic() - t0 < 20:
        for k, s in enumerate(socks):
            if closed[k] is not None: continue
            try:
                s.send(b"G")
                if s.recv(1) == b"": closed[k] = time.monotonic() - t0
            except BlockingIOError: pass
            except OSError: closed[k] = time.monotonic() - t0
        time.sleep(0.5)
    print(" ".join("%.1f" % c if c is not None else "open" for c in closed))
    sys.exit(0)
secs, rate = float(sys.argv[3]), int(sys.argv[4])
socks, t0, i = [], time.monotonic(), 0
while time.monotonic() - t0 < secs:
    for _ in range(rate // 10):
        try:
            s = socket.socket(); s.setblocking(False)
            try: s.connect(("127.0.0.1", port))
            except BlockingIOError: pass
            socks.append((s, i % 2 == 0)); i += 1
        except OSError: pass
    for s, trickle in socks:
        if trickle:
            try: s.send(b"G")
            except OSError: pass
    time.sleep(0.1)
print(i)
PY
read -r c1 c2 c3 < <(python3 "$T/junk.py" "$SADMIN" trickle)
echo "  trickling connections closed after $c1 / $c2 / $c3 s (deadline 5 s)"
python3 -c "import sys; sys.exit(0 if all(x != 'open' and float(x) < 12 for x in sys.argv[1:]) else 1)" "$c1" "$c2" "$c3" \
    && ok "connections trickling header bytes are closed at their deadline, bytes do not extend it" \
    || fail "trickling connections closed after: $c1 $c2 $c3"
[ "$(metric "$SADMIN" 'vmesh_admin_closed_total{reason="deadline"}')" -ge 3 ] && ok "deadline closes counted" \
    || fail "deadline closes: $(metric "$SADMIN" 'vmesh_admin_closed_total{reason="deadline"}')"

python3 "$T/junk.py" "$SADMIN" flood 12 50 > "$T/junk.out" &
junk=$!
sleep 1
okn=0 n=0 worst=0
for i in $(seq 1 40); do
    for path in ready metrics; do
        n=$((n + 1))
        t0=$(date +%s%N)
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$SADMIN/$path")
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        [ "$ms" -gt "$worst" ] && worst=$ms
        [ "$code" = 200 ] && okn=$((okn + 1))
    done
    sleep 0.2
done
wait $junk
echo "  $(cat "$T/junk.out") junk connections; probes: $okn of $n answered 200, slowest ${worst} ms"
[ "$okn" = "$n" ] && ok "every /ready and /metrics probe answered during the flood ($okn of $n)" \
    || fail "probes answered: $okn of $n"
ev=$(metric "$SADMIN" 'vmesh_admin_closed_total{reason="evicted"}')
[ "$ev" -ge 1 ] && ok "budget full: $ev incomplete connections evicted" || fail "evicted: $ev"
stop_proxy server
finish
