#!/usr/bin/env bash
# Logs an operator can ship (issue 15.4): with --log-format json every line
# a daemon writes on stderr is one JSON record {time (RFC 3339), level, msg}
# — start, refusals, a failed and a good reload, drain, exit — and the
# access log is on its own sink (stdout by default, or its file), never
# mixed into stderr. The text format carries the same time and level.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
px_config server
px_config client
# server: the default access-log sink (stdout)
sed -i '/^access-log:/,+1d' "$T/server.yaml"
sed -i 's/^limits:/log-level: debug\nlimits:/' "$T/server.yaml"
start_app
PX_ARGS="--log-format json" start_proxy server
PX_ARGS="--log-format json" start_proxy client
for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$OUT_PORT/s$i.txt"; done
# a peer that does not attest: refused by the inbound listener
timeout 10 openssl s_client -connect "127.0.0.1:$IN_PORT" -cert "$T/client-chain.pem" -key "$T/client.key" \
    -CAfile "$T/ca/bundle.pem" </dev/null >/dev/null 2>&1
# a reload that fails, then one that works
cp "$T/client.yaml" "$T/client.good"
echo "bogus-key: 1" >> "$T/client.yaml"
kill -HUP "$CLIENT_PID"; sleep 1
cp "$T/client.good" "$T/client.yaml"
kill -HUP "$CLIENT_PID"; sleep 1
curl -s -o /dev/null "http://127.0.0.1:$OUT_PORT/s4.txt"
stop_proxy client
stop_proxy server

# check_json FILE NAME MIN_LINES: every line a record
check_json() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, re, sys
path, name, least = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(path, encoding="utf-8", errors="strict").read().splitlines()
bad = []
rfc3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
for i, l in enumerate(lines):
    try:
        d = json.loads(l)
        assert set(d) == {"time", "level", "msg"}, "keys %s" % sorted(d)
        assert rfc3339.match(d["time"]), "time %r" % d["time"]
        assert d["level"] in ("error", "warn", "info", "debug"), "level %r" % d["level"]
        assert isinstance(d["msg"], str) and d["msg"]
    except Exception as e:
        bad.append("line %d: %s: %s" % (i + 1, e, l[:200]))
if bad or len(lines) < least:
    print("FAIL: %s: %d lines, %d not records" % (name, len(lines), len(bad)))
    for b in bad[:5]: print("  " + b)
else:
    levels = sorted({json.loads(l)["level"] for l in lines})
    print("ok: %s: all %d lines are JSON records (levels %s)" % (name, len(lines), ",".join(levels)))
PY
}
while read -r line; do case $line in ok:*) ok "${line#ok: }";; FAIL:*) fail "${line#FAIL: }";; *) echo "$line";; esac; done \
    < <(check_json "$T/server.err" "server stderr" 5; check_json "$T/client.err" "client stderr" 5)
grep -q '"msg":"proxy: reload failed' "$T/client.err" && ok "the failed reload is a record" || fail "no reload-failed record"
grep -q '"msg":"proxy: drained, exiting"' "$T/client.err" && ok "the drain is a record" || fail "no drain record"
grep -q '"direction"' "$T/server.err" && fail "access-log records on stderr" || ok "no access-log record on stderr"
n=$(grep -c '"direction":"inbound"' "$T/server.out" || true)
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/server.out" \
    && [ "$n" -ge 4 ] && ok "access log on stdout by default: $n records, each JSON" || fail "server stdout: $n records"
[ "$(grep -c '"direction":"outbound"' "$T/client-access.log")" -ge 4 ] && [ ! -s "$T/client.out" ] \
    && ok "access-log.file: records in the file, none on stdout" || fail "client access log"

# text format: time and level first
start_proxy server
stop_proxy server
if grep -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z (error|warn|info|debug) ' "$T/server.err"; then
    fail "text lines without time and level:"; grep -vE '^[0-9]{4}-' "$T/server.err" | head -5
else ok "text: all $(wc -l < "$T/server.err") lines start with an RFC 3339 time and a level"; fi

# the other daemons
"$VMESH" keygen --type ec-p256 -o "$T/ear.key" --pub "$T/ear.pub" >/dev/null
VPORT=$(free_port)
"$VMESH" verifier serve --key "$T/ear.key" --listen "127.0.0.1:$VPORT" --log-format json 2>"$T/v.err" &
VPID=$!; px_pids+=("$VPID")
wait_port "$VPORT" 10
curl -s -o /dev/null -X POST "http://127.0.0.1:$VPORT/challenge-response/v1/newSession?nonceSize=32"
kill -TERM "$VPID"; wait "$VPID"
# rvp serve on a busy port (the verifier's port, taken again by a listener)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(5)' "$VPORT" &
BUSY=$!; px_pids+=("$BUSY")
wait_port "$VPORT" 5
mkdir -p "$T/www2"
"$VMESH" rvp serve --root "$T/www2" --listen "127.0.0.1:$VPORT" --log-format json 2>"$T/r.err" >/dev/null
rrc=$?
kill "$BUSY" 2>/dev/null
[ "$rrc" -eq 1 ] && grep -q "$VPORT" "$T/r.err" && ok "rvp serve on a busy port: exit 1 naming port $VPORT" \
    || { fail "rvp serve on a busy port: exit $rrc"; cat "$T/r.err"; }
while read -r line; do case $line in ok:*) ok "${line#ok: }";; FAIL:*) fail "${line#FAIL: }";; *) echo "$line";; esac; done \
    < <(check_json "$T/v.err" "verifier serve stderr" 3; check_json "$T/r.err" "rvp serve stderr (a failed start)" 1)
finish
