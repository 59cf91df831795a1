#!/usr/bin/env bash
# The node dashboard on the admin endpoint (docs/DASHBOARD.md): the page and
# its files come from the binary with a CSP that limits scripts to this
# origin; /dashboard/state says who the node is, holds the open attested
# connection with its tier and epochs, and after a revocation remembers the
# peer's connection as closed by re-appraisal (with the epochs that closed
# it) and the refusal that followed. Nothing but GET; unknown paths 404.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
px_config server
px_config client
px_rv_json server "$(printf 'some other workload' | sha256sum | cut -d' ' -f1)" > "$T/server-rv.revoked.json"
start_app
start_proxy server
start_proxy client
A="http://127.0.0.1:$CADMIN"

# ---- the page and its files
curl -s -D "$T/h" -o "$T/page" "$A/" || fail "GET /"
grep -qi "^content-type: text/html" "$T/h" && ok "/ is the HTML page" || fail "/ content type: $(grep -i content-type "$T/h")"
grep -qi "^content-security-policy: default-src 'self'; script-src 'self'" "$T/h" && ok "CSP limits scripts to this origin" || fail "no CSP header"
grep -qi "connect-src 'self'" "$T/h" && ok "CSP limits fetch to this origin" || fail "CSP lacks connect-src 'self'"
grep -qi "^x-content-type-options: nosniff" "$T/h" && ok "nosniff" || fail "no nosniff"
if grep -qiE '<script>|style=|https?://' "$T/page"; then fail "page has inline script/style or an external URL"; else ok "no inline script or style, no external URL"; fi
for f in style.css:text/css common.js:text/javascript node.js:text/javascript icon.svg:image/svg+xml; do
    code=$(curl -s -o "$T/asset" -w '%{http_code} %{content_type}' "$A/dashboard/${f%%:*}")
    case "$code" in "200 ${f#*:}"*) ok "/dashboard/${f%%:*} served ($code)";; *) fail "/dashboard/${f%%:*}: $code";; esac
    grep -v 'www.w3.org/2000/svg' "$T/asset" | grep -qE 'https?://[a-z]' && fail "${f%%:*} names an external URL"
done
[ "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$A/dashboard/../metrics")" = 404 ] && ok "dot-dot path: 404" || fail "dot-dot path not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$A/dashboard/nope.js")" = 404 ] && ok "unknown asset: 404" || fail "unknown asset not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$A/dashboard/state")" = 405 ] && ok "POST: 405" || fail "POST not 405"

# ---- state with an open attested connection
curl -s -o /dev/null "http://127.0.0.1:$OUT_PORT/s1.txt"
python3 - "$OUT_PORT" "$T/hold" <<'PY' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").write("open\n")
s.settimeout(60)
try: s.recv(100)
except Exception: pass
open(sys.argv[2], "a").write("eof\n")
PY
HOLD=$!
state() { curl -s "$A/dashboard/state" > "$T/state.json" && python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/state.json"; }
until_state() { local i; for ((i = 0; i < 100; i++)); do state && json_get "$T/state.json" "$1" 2>/dev/null | grep -qx True && return 0; sleep 0.1; done; return 1; }
until_state '[p for p in d["open"] if p["state"] == "proxy" and p["tier"] == "affirming"] != []' \
    && ok "state: the held connection is open and affirming" || fail "state lacks the open connection: $(head -c 600 "$T/state.json")"
[ "$(json_get "$T/state.json" 'd["self"]["id"]')" = spiffe://example.org/ns/shop/sa/client ] && ok "state names this node's SPIFFE ID" || fail "self.id"
[ "$(json_get "$T/state.json" 'd["self"]["listeners"][0]["upstreams"][0]')" = "127.0.0.1:$IN_PORT" ] && ok "state lists the listener and its upstream" || fail "listeners"
json_get "$T/state.json" '[p for p in d["open"] if p["state"] == "proxy"][0]["peer"]' | grep -qx spiffe://example.org/ns/shop/sa/server && ok "open connection names the peer" || fail "open peer"
json_get "$T/state.json" '[p for p in d["recent"] if p["result"] == "ok"][0]["peer"]' | grep -qx spiffe://example.org/ns/shop/sa/server && ok "recent: the first request ended ok" || fail "recent ok entry: $(head -c 600 "$T/state.json")"
json_get "$T/state.json" 'd["bell"]["current"]["fresh"]' | grep -qx True && ok "bell: fresh" || fail "bell health"
json_get "$T/state.json" 'd["rv"]["have_snapshot"]' | grep -qx True && ok "rv snapshot installed" || fail "rv snapshot"

# ---- revoke: the open connection closes by re-appraisal, a new one is refused
cp "$T/server-rv.revoked.json" "$T/server-rv.active.json"
kill -HUP "$CLIENT_PID"
for ((i = 0; i < 100; i++)); do grep -q eof "$T/hold" 2>/dev/null && break; sleep 0.1; done
curl -s -o /dev/null "http://127.0.0.1:$OUT_PORT/s1.txt"
until_state '[p for p in d["recent"] if p["result"] == "reappraisal"] != [] and d["ended"].get("refused", 0) >= 1' \
    && ok "recent: closed by re-appraisal, then a refusal counted" || fail "no re-appraisal/refusal in state: $(head -c 900 "$T/state.json")"
json_get "$T/state.json" '[p for p in d["refusals"] if p["result"] in ("refused", "reappraisal")][0]["reason"]' | grep -q 'not-affirming' \
    && ok "refusals list the reason (not-affirming)" || fail "refusal reason: $(head -c 900 "$T/state.json")"
wait "$HOLD" 2>/dev/null

# ---- a flood of requests for the state does not hurt (bounded, valid JSON)
cpids=()
for i in $(seq 1 30); do curl -s -m 10 -o /dev/null "$A/dashboard/state" & cpids+=($!); done
wait "${cpids[@]}"
state && ok "state still valid JSON after 30 concurrent requests" || fail "state after concurrent requests"
stop_proxy client
stop_proxy server
finish
