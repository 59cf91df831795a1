#!/usr/bin/env bash
# SVID rotation under load (issue 18.4): the server sidecar's SVID lives in
# a directory reached through a symlink ("live" -> v1), the way a Kubernetes
# secret volume or spiffe-helper swaps a whole pair at once. While 8 echo
# probes keep one connection each through client -> server sidecars (a line
# every 50 ms) and a loop opens new connections, the pair is rotated three
# times and a broken pair (a truncated chain) is published once. Counted:
# every probe line and every new connection must succeed (zero dropped),
# the broken pair is refused (vmesh_identity_refused_total 1, old SVID
# kept), and each good rotation is in force (the certificate expiry gauge
# follows the --days of the new SVID). No restart.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
mkdir -p "$T/v1"
cp "$T/server-chain.pem" "$T/server.key" "$T/v1/"
ln -s v1 "$T/live"
px_config server
px_config client
# a loaded test machine must not turn a slow handshake into a "dropped" one
sed -i 's/handshake-timeout: 5s/handshake-timeout: 40s/' "$T/server.yaml" "$T/client.yaml"
sed -i "s|cert: $T/server-chain.pem|cert: $T/live/server-chain.pem|; s|key: $T/server.key|key: $T/live/server.key|" "$T/server.yaml"
grep -q "$T/live/server.key" "$T/server.yaml" || { echo "config edit failed"; exit 1; }
start_echo_app
start_proxy server
start_proxy client

expiry() { metric "$SADMIN" vmesh_certificate_expiry_seconds; }
# rotate N DAYS: a new pair in vN, then the symlink swapped atomically
rotate() {
    "$VMESH" ca issue --ca "$T/ca" --spiffe-id spiffe://example.org/ns/shop/sa/server --out "$T/new" --days "$2" >/dev/null
    mkdir -p "$T/v$1"; cp "$T/new-chain.pem" "$T/v$1/server-chain.pem"; cp "$T/new.key" "$T/v$1/server.key"
    ln -sfn "v$1" "$T/live.tmp" && mv -T "$T/live.tmp" "$T/live"
}
# wait_changes N: until the watcher saw N changes and the reload settled
wait_changes() {
    for _ in $(seq 200); do [ "$(metric "$SADMIN" vmesh_identity_file_changes_total)" -ge "$1" ] && break; sleep 0.1; done
    sleep 0.3
}

# one new connection, one line echoed (60 s socket timeout: slowness on a
# loaded machine is not a drop; a closed or refused connection is)
cat > "$T/once.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
s.sendall(b"hello\n"); got = b""
while len(got) < 6:
    d = s.recv(6 - len(got))
    if not d: break
    got += d
print("ok" if got == b"hello\n" else "failed: %r" % got)
PY
rm -f "$T/stop"
for i in $(seq 1 8); do python3 "$T/echo.py" probe "$OUT_PORT" "$T/stop" "$T/probe$i.json" & px_pids+=($!); done
( n=0; bad=0; while [ ! -e "$T/stop" ]; do n=$((n+1)); r=$(timeout 120 python3 "$T/once.py" "$OUT_PORT" 2>&1); [ "$r" = ok ] || { bad=$((bad+1)); echo "connection $n: ${r:-killed after 120 s}" >> "$T/new-errors"; }; sleep 0.1; done
  echo "$n $bad" > "$T/new-count" ) & loop=$!
sleep 2
e0=$(expiry)
rotate 2 3; wait_changes 1
e1=$(expiry)
[ "$e1" -gt $((3*86400 - 600)) ] && [ "$e1" -le $((3*86400)) ] && ok "rotation 1 in force (expiry ${e1}s, was ${e0}s)" || fail "rotation 1: expiry $e1"
rotate 3 4; wait_changes 2
e2=$(expiry)
[ "$e2" -gt $((4*86400 - 600)) ] && [ "$e2" -le $((4*86400)) ] && ok "rotation 2 in force (expiry ${e2}s)" || fail "rotation 2: expiry $e2"
# broken pair: the chain cut in half
"$VMESH" ca issue --ca "$T/ca" --spiffe-id spiffe://example.org/ns/shop/sa/server --out "$T/new" --days 5 >/dev/null
mkdir -p "$T/v4"; head -c 300 "$T/new-chain.pem" > "$T/v4/server-chain.pem"; cp "$T/new.key" "$T/v4/server.key"
ln -sfn v4 "$T/live.tmp" && mv -T "$T/live.tmp" "$T/live"
wait_changes 3
[ "$(metric "$SADMIN" vmesh_identity_refused_total)" = 1 ] && ok "broken pair refused (vmesh_identity_refused_total 1)" || fail "broken pair: refused=$(metric "$SADMIN" vmesh_identity_refused_total)"
[ "$(expiry)" -le $((4*86400)) ] && ok "old SVID kept after the broken pair" || fail "expiry after broken pair: $(expiry)"
grep -q "the changed identity files were refused, the previous SVID and bundles stay" "$T/server.err" && ok "refusal logged" || fail "no refusal log line"
rotate 5 6; wait_changes 4
e3=$(expiry)
[ "$e3" -gt $((6*86400 - 600)) ] && [ "$e3" -le $((6*86400)) ] && ok "rotation 3 (after the broken one) in force (expiry ${e3}s)" || fail "rotation 3: expiry $e3"
sleep 1
touch "$T/stop"
wait $loop
for _ in $(seq 100); do [ "$(ls "$T"/probe*.json 2>/dev/null | wc -l)" = 8 ] && break; sleep 0.1; done
lines=0; failed=0
for i in $(seq 1 8); do
    lines=$((lines + $(json_get "$T/probe$i.json" 'd["n"]'))); failed=$((failed + $(json_get "$T/probe$i.json" 'd["failed"]')))
done
read -r nn nbad < "$T/new-count"
echo "  measured: 8 open connections carried $lines echoed lines, $failed failed; $nn new connections, $nbad failed; 3 rotations + 1 broken pair"
[ "$failed" = 0 ] && [ "$lines" -gt 100 ] && ok "open connections: $lines lines, 0 dropped" || fail "open connections: $failed of $lines lines failed"
[ "$nbad" = 0 ] && [ "$nn" -ge 2 ] && ok "new connections during rotations: $nn, 0 failed" || { fail "new connections: $nbad of $nn failed"; tail -3 "$T/new-errors"; grep -i "refused\|failed" "$T/client.err" | tail -3; }
[ "$(metric "$SADMIN" 'vmesh_reloads_total{result="ok"}')" -ge 3 ] && ok "3 reloads ok, no restart" || fail "reloads"
stop_proxy client
stop_proxy server
finish
