#!/usr/bin/env bash
# File-descriptor discipline (issue 13.2). The inbound sidecar runs with a
# hard limit of 256 descriptors, the outbound one with a soft limit of 300
# under a higher hard limit (raised at start, both logged). One established
# attested connection echoes a line every 50 ms throughout.
# 1. Default limits.max-connections: derived from the limit (two descriptors
#    per connection plus headroom), so 300 idle connections meet the
#    connection limit, not EMFILE.
# 2. limits.max-connections 10000 (above what the descriptors allow, with a
#    warning at reload): 300 idle connections exhaust the descriptors; the
#    sidecar sheds pending connections, pauses accepting, logs a handful of
#    lines a second, counts it in /metrics, keeps answering /ready and
#    /metrics and keeps echoing on the established connection; once the idle
#    connections close it accepts again.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v prlimit >/dev/null || { echo "SKIP: prlimit missing"; exit 77; }
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 1024 ] || { echo "SKIP: hard fd limit $hard"; exit 77; }
px_setup
px_config server "  handshake-timeout: 60s"
sed -i 's/  handshake-timeout: 5s//' "$T/server.yaml"
px_config client
start_echo_app
PX_WRAP="prlimit --nofile=256:256" start_proxy server
PX_WRAP="prlimit --nofile=300:" start_proxy client

grep -q "file descriptors: soft limit 256 (hard limit 256)" "$T/server.err" && ok "limit logged (256, hard 256)" \
    || { fail "no limit line"; grep descriptors "$T/server.err"; }
grep -q "file descriptors: soft limit raised from 300 to" "$T/client.err" && ok "soft limit raised to the hard one and logged" \
    || { fail "client: soft limit not raised"; grep descriptors "$T/client.err"; }
max=$(metric "$SADMIN" vmesh_max_connections)
grep -q "limits.max-connections $max (derived" "$T/server.err" && [ "$max" -gt 10 ] && [ "$max" -lt 128 ] \
    && ok "max-connections derived from 256 descriptors: $max" || fail "derived max-connections: $max"
[ "$(metric "$SADMIN" vmesh_fd_limit)" = 256 ] && ok "vmesh_fd_limit 256" || fail "vmesh_fd_limit"

python3 "$T/echo.py" probe "$OUT_PORT" "$T/stop" "$T/probe.json" &
probe=$!
sleep 1

# 1. the derived connection limit
python3 "$T/echo.py" hold "$IN_PORT" 300 "$T/f1" &
h1=$!
for _ in $(seq 1 100); do [ -s "$T/f1" ] && break; sleep 0.2; done
lim=$(metric "$SADMIN" 'vmesh_connections_total{direction="inbound",result="limit"}')
[ "$lim" -ge 150 ] && ok "derived limit refuses beyond $max ($lim refused)" || fail "limit refusals: $lim"
[ "$(metric "$SADMIN" vmesh_accept_pauses_total)" = 0 ] && ok "no EMFILE under the derived limit" \
    || fail "EMFILE under the derived limit"
echo release > "$T/f1"; wait $h1

# 2. a configured limit above the descriptors
sed -i 's/^limits:/limits:\n  max-connections: 10000/' "$T/server.yaml"
kill -HUP "$SERVER_PID"
for _ in $(seq 1 50); do [ "$(metric "$SADMIN" vmesh_max_connections)" = 10000 ] && break; sleep 0.2; done
grep -q "limits.max-connections 10000 needs about .* file descriptors but the limit is 256" "$T/server.err" \
    && ok "reload warns that 10000 connections do not fit in 256 descriptors" || fail "no warning at reload"
for _ in $(seq 1 50); do [ "$(metric "$SADMIN" 'vmesh_connections_active{direction="inbound"}')" -le 1 ] && break; sleep 0.2; done
lines0=$(wc -l < "$T/server.err")
t0=$(date +%s%N)
python3 "$T/echo.py" hold "$IN_PORT" 300 "$T/f2" &
h2=$!
for _ in $(seq 1 100); do [ -s "$T/f2" ] && break; sleep 0.2; done
sleep 2
ready=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$SADMIN/ready")
[ "$ready" = 200 ] && ok "/ready answers 200 while descriptors are exhausted" || fail "/ready: $ready"
pauses=$(metric "$SADMIN" vmesh_accept_pauses_total)
shed=$(metric "$SADMIN" 'vmesh_connections_total{direction="inbound",result="no-fd"}')
[ "$pauses" -ge 1 ] && [ "$shed" -ge 1 ] && ok "metrics: $pauses accept pauses, $shed connections shed" \
    || fail "metrics: pauses $pauses, shed $shed"
lines1=$(wc -l < "$T/server.err")
secs=$(( ($(date +%s%N) - t0) / 1000000000 + 1 ))
acc=$(tail -n +"$((lines0 + 1))" "$T/server.err" | grep -c "accept:" || true)
echo "  $((lines1 - lines0)) log lines in ${secs} s of exhaustion ($acc about accept)"
[ $((lines1 - lines0)) -le $(( 6 * secs + 6 )) ] && [ "$acc" -ge 1 ] \
    && ok "log lines bounded: $((lines1 - lines0)) in $secs s" || fail "log lines: $((lines1 - lines0)) in $secs s"
r=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); echo "  new connection while exhausted: $r (refusal expected)"
echo release > "$T/f2"; wait $h2
for _ in $(seq 1 100); do [ "$(metric "$SADMIN" 'vmesh_connections_active{direction="inbound"}')" -le 1 ] && break; sleep 0.2; done
sleep 0.3
r1=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1); r2=$(python3 "$T/echo.py" once "$OUT_PORT" 2>&1)
[ "$r1" = ok ] && [ "$r2" = ok ] && ok "recovered: new attested connections echo again" || fail "after the flood: $r1 / $r2"

touch "$T/stop"; wait $probe
summary=$(cat "$T/probe.json"); echo "  established connection: $summary"
[ "$(json_get "$T/probe.json" 'd["failed"]')" = 0 ] && [ "$(json_get "$T/probe.json" 'd["n"]')" -ge 20 ] \
    && ok "the established connection echoed throughout" || fail "established connection: $summary"
stop_proxy client
stop_proxy server
finish
