#!/usr/bin/env bash
# `vmesh dashboard` (docs/DASHBOARD.md): reads the admin endpoints of the
# nodes it is given and serves the mesh page and /mesh/state from its own
# origin. Two sidecars with an open attested connection and one address
# where nothing listens: /mesh/state has all three, the two with their
# state and the connection, the dead one with its error; a node answering
# junk is an error, not a crash; bad node addresses and files are refused
# with the reason; only GET.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
px_config server
px_config client
start_app
start_proxy server
start_proxy client
DEAD=$(free_port)
JUNK=$(free_port)
# a "node" that answers with something that is not a node's state
python3 - "$JUNK" <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = b'{"kind":"not-a-node","x":"</script><script>alert(1)</script>"}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
px_pids+=($!)
wait_port "$JUNK" || fail "junk node did not start"

# ---- argument errors name the problem
expect_exit 1 "https node refused" -- "$VMESH" dashboard --node https://127.0.0.1:1
expect_stderr "plain HTTP"
expect_exit 1 "node with a path refused" -- "$VMESH" dashboard --node http://127.0.0.1:1/peers
expect_stderr "without a path"
expect_exit 1 "node without a port refused" -- "$VMESH" dashboard --node http://127.0.0.1
expect_exit 1 "missing nodes file refused" -- "$VMESH" dashboard --nodes-file "$T/nope"
expect_stderr "nope"
printf 'http://127.0.0.1:%s\nnot a url at all\n' "$SADMIN" > "$T/bad-nodes"
expect_exit 1 "bad line in nodes file refused" -- "$VMESH" dashboard --nodes-file "$T/bad-nodes"
expect_stderr "line 2"
expect_exit 1 "no node at all" -- "$VMESH" dashboard --listen 127.0.0.1:0
expect_exit 1 "poll out of range" -- "$VMESH" dashboard --node 127.0.0.1:1 --poll 50ms
expect_stderr "200ms..60s"
# One duration syntax: a bare number is seconds, so the old milliseconds
# spelling is refused with a hint instead of polling every 500 s.
expect_exit 1 "bare 500 (once ms) refused" -- "$VMESH" dashboard --node 127.0.0.1:1 --poll 500
expect_stderr "write 500ms for milliseconds"
expect_exit 1 "poll not a duration" -- "$VMESH" dashboard --node 127.0.0.1:1 --poll soon
expect_stderr "takes a duration"

# ---- the mesh of two live nodes, a dead one and a junk one
printf '# the mesh\nhttp://127.0.0.1:%s/\n\n127.0.0.1:%s\n' "$SADMIN" "$CADMIN" > "$T/nodes"
"$VMESH" dashboard --nodes-file "$T/nodes" --node "http://127.0.0.1:$DEAD" --node "127.0.0.1:$JUNK" \
    --listen 127.0.0.1:0 --poll 300ms >"$T/dash.out" 2>"$T/dash.err" &
DPID=$!; px_pids+=("$DPID")
for ((i = 0; i < 100; i++)); do grep -q '^listening on' "$T/dash.out" && break; sleep 0.1; done
DPORT=$(awk '/^listening on/ {print $3}' "$T/dash.out")
[ -n "$DPORT" ] && ok "dashboard listening on $DPORT" || { fail "dashboard did not start: $(cat "$T/dash.err")"; finish; }
D="http://127.0.0.1:$DPORT"

python3 - "$OUT_PORT" "$T/hold" <<'PY' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").write("open\n")
s.settimeout(30)
try: s.recv(100)
except Exception: pass
PY
HOLD=$!; px_pids+=("$HOLD")
mesh_until() { local i; for ((i = 0; i < 100; i++)); do curl -s "$D/mesh/state" > "$T/mesh.json" &&
    json_get "$T/mesh.json" "$1" 2>/dev/null | grep -qx True && return 0; sleep 0.2; done; return 1; }
mesh_until 'any(p["state"] == "proxy" for n in d["nodes"] if n["state"] for p in n["state"]["open"])' \
    && ok "/mesh/state shows the open attested connection" || fail "no open connection in /mesh/state: $(head -c 800 "$T/mesh.json")"
[ "$(json_get "$T/mesh.json" 'len(d["nodes"])')" = 4 ] && ok "four nodes listed" || fail "node count"
[ "$(json_get "$T/mesh.json" 'sorted(n["state"]["self"]["id"] for n in d["nodes"] if n["ok"])')" = "['spiffe://example.org/ns/shop/sa/client', 'spiffe://example.org/ns/shop/sa/server']" ] \
    && ok "the two sidecars answer with their SPIFFE IDs" || fail "live nodes: $(head -c 800 "$T/mesh.json")"
json_get "$T/mesh.json" '[n for n in d["nodes"] if n["url"].endswith(":'"$DEAD"'")][0]["error"]' | grep -qi 'connect' \
    && ok "dead node: its error is shown" || fail "dead node error"
json_get "$T/mesh.json" '[n for n in d["nodes"] if n["url"].endswith(":'"$JUNK"'")][0]["error"]' | grep -q "not a vmesh node" \
    && ok "junk node: refused as not a node's state" || fail "junk node"
grep -q 'alert' "$T/mesh.json" && fail "junk node's content passed through" || ok "junk node's content not passed through"

# ---- the page
curl -s -D "$T/h" -o "$T/page" "$D/" || fail "GET /"
grep -qi "^content-security-policy: default-src 'self'; script-src 'self'" "$T/h" && ok "mesh page CSP" || fail "mesh page lacks CSP"
grep -q 'mesh-svg' "$T/page" && ok "mesh page served" || fail "mesh page"
for f in style.css common.js mesh.js icon.svg; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$D/dashboard/$f")" = 200 ] && ok "/dashboard/$f" || fail "/dashboard/$f"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$D/dashboard/node.js")" = 404 ] && ok "unknown file: 404" || fail "node.js on the mesh server"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$D/mesh/state")" = 405 ] && ok "POST: 405" || fail "POST not 405"

kill -TERM "$DPID"; wait "$DPID"; rc=$?
[ "$rc" = 0 ] && ok "dashboard stops on SIGTERM (exit 0)" || fail "dashboard exit $rc"
grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T/dash.err" && fail "sanitizer report: $(head -5 "$T/dash.err")" || ok "no sanitizer report"
finish
