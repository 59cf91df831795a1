#!/usr/bin/env bash
# A cross-domain peer appraised by its own domain's verifier, or by ours
# with its domain's reference values (issue 18.2, docs/FEDERATION.md "Who
# appraises a peer of another domain").
# The server sidecar is Enterprise X's (example.org); it trusts X's verifier
# for passports (verifier.trusted-verifiers). The client sidecar is
# Enterprise Y's (spiffe://y.example/ns/ai/sa/client). Two real central
# verifiers (`vmesh verifier serve`), X's and Y's, each able to appraise the
# client's platform. The server's rule for spiffe://y.example/*:
#   1. pattern passport + trusted-verifiers [Y's verifier]:
#      a. the client's passport from Y's verifier: admitted; the EAR names
#         the client (Vmesh-Peer-ID sent by the client's passport request);
#      b. a passport from X's own verifier for the Y peer: refused
#         (ear-untrusted), although X's verifier is trusted for X's peers;
#   2. control: the same rule without trusted-verifiers: X's passport for the
#      Y peer is admitted (so 1b is the rule's doing);
#   3. pattern background-check: the server appraises the client itself
#      with Y's reference values (client-rv.json): admitted in a
#      background-check mode; a passport is refused (mode-refused).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
"$VMESH" ca init --trust-domain y.example --out ca-y >/dev/null || fail "ca init y"
"$VMESH" ca issue --ca ca-y --spiffe-id spiffe://y.example/ns/ai/sa/client --out cy >/dev/null || fail "issue cy"
for v in x y; do "$VMESH" keygen --type ec-p256 -o "$T/${v}ver.pem" --pub "$T/${v}ver.pub" >/dev/null; done

# the two enterprises' verifiers
declare -A VPORT
for v in x y; do
    "$VMESH" verifier serve --listen 127.0.0.1:0 --key "$T/${v}ver.pem" --rv "$T/client-rv.json" --id "$v" \
        >"$T/ver-$v.out" 2>"$T/ver-$v.log" &
    px_pids+=($!)
    for _ in $(seq 100); do
        VPORT[$v]=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$T/ver-$v.log"); [ -n "${VPORT[$v]}" ] && break; sleep 0.1
    done
    [ -n "${VPORT[$v]}" ] || { echo "verifier $v did not start"; cat "$T/ver-$v.log"; exit 1; }
done

px_config server
px_config client
sed -i '/peer: spiffe:\/\/example.org\/ns\/shop\/\*/d' "$T/server.yaml"
cp "$T/server.yaml" "$T/server.tmpl"
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
p = t + "/client.yaml"
s = open(p).read()
s = s.replace("  cert: %s/client-chain.pem\n" % t, "  cert: %s/cy-chain.pem\n" % t)
s = s.replace("  key: %s/client.key\n" % t, "  key: %s/cy.key\n" % t)
s = s.replace("  bundle: %s/ca/bundle.pem\n" % t, "  bundle: %s/ca-y/bundle.pem\n"
              "  federation:\n    - { trust-domain: example.org, bundle: %s/ca/bundle.pem }\n" % (t, t))
open(t + "/client.tmpl", "w").write(s)
PY

# server RULE-YAML: (re)start the server with this rule for y.example peers
server() {
    [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null && stop_proxy server >/dev/null
    python3 - "$T" "$1" <<'PY'
import sys
t, rule = sys.argv[1:]
s = open(t + "/server.tmpl").read()
s = s.replace("  bundle: %s/ca/bundle.pem\n" % t, "  bundle: %s/ca/bundle.pem\n"
              "  federation:\n    - { trust-domain: y.example, bundle: %s/ca-y/bundle.pem }\n" % (t, t))
s = s.replace("verifier:\n", "verifier:\n  trusted-verifiers: [ %s/xver.pub ]\n" % t, 1)
s += "policy:\n  rules:\n    - { peer: \"spiffe://y.example/*\", %s }\n" % rule.replace("@T", t)
open(t + "/server.yaml", "w").write(s)
PY
    start_proxy server
}
# client MODES VERIFIER: (re)start the client attesting in MODES, its
# passports (if any) from VERIFIER's (x or y) central verifier
client() {
    [ -n "${CLIENT_PID:-}" ] && kill -0 "$CLIENT_PID" 2>/dev/null && stop_proxy client >/dev/null
    python3 - "$T" "$1" "${VPORT[$2]}" <<'PY'
import sys
t, modes, port = sys.argv[1:]
s = open(t + "/client.tmpl").read()
s = s.replace("attester:\n", "attester:\n  modes: [ %s ]\n" % modes, 1)
s = s.replace("verifier:\n", "verifier:\n  passport: { central: \"http://127.0.0.1:%s\", insecure-plain-http: true }\n" % port, 1)
open(t + "/client.yaml", "w").write(s)
PY
    start_proxy client
}
get() { curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt"; }
Y=spiffe://y.example/ns/ai/sa/client
# last_server FIELD RESULT: FIELD of the server's last access-log record for Y with RESULT
last_server() {
    python3 - "$T/server-access.log" "$Y" "$1" "$2" <<'PY'
import json, sys
log, peer, field, result = sys.argv[1:]
last = None
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("peer") == peer and e.get("result") == result:
        last = e.get(field)
print(last)
PY
}
wait_refusal() { # wait_refusal TEXT
    for _ in $(seq 40); do last_server close_reason refused | grep -q "$1" && return 0; sleep 0.25; done
    return 1
}

start_app
# ---- 1. own domain's verifier required
server "pattern: passport, trusted-verifiers: [ @T/yver.pub ]"
client passport y
code=$(get)
[ "$code" = 200 ] && ok "1a. Y peer with a passport from Y's verifier: admitted" || { fail "1a: HTTP $code"; tail -3 "$T/server-access.log"; }
[ "$(last_server mode ok)" = passport ] && ok "1a. admitted in passport mode" || fail "1a mode: $(last_server mode ok)"
python3 - "$T/server-access.log" "$Y" <<'PY' && ok "1a. the access log names Y's verifier as the appraiser" || fail "1a: verifier field $(last_server verifier ok)"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ok = [r for r in recs if r.get("peer") == sys.argv[2] and r.get("result") == "ok"]
sys.exit(0 if ok and "key:" in str(ok[-1].get("verifier", "")) else 1)
PY

client passport x
code=$(get)
[ "$code" != 200 ] && ok "1b. Y peer with a passport from X's own verifier: refused (HTTP $code)" || fail "1b: X's passport admitted a Y peer"
wait_refusal "ear-untrusted\|not signed by a verifier this policy trusts" \
    && ok "1b. refusal: $(last_server close_reason refused | head -c 160)" || fail "1b: no ear-untrusted refusal"

# ---- 2. control: without the rule's verifiers X's verifier is trusted for everyone
server "pattern: passport"
code=$(get)
[ "$code" = 200 ] && ok "2. control: without trusted-verifiers in the rule, X's passport admits the Y peer" || fail "2: HTTP $code"

# ---- 3. background check here with Y's reference values
server "pattern: background-check"
client "epoch-fresh, fresh, passport" y
code=$(get)
[ "$code" = 200 ] && ok "3. Y peer appraised here (background check with Y's reference values): admitted" || fail "3: HTTP $code"
m=$(last_server mode ok)
case "$m" in epoch-fresh|fresh) ok "3. mode $m";; *) fail "3. mode $m";; esac
client passport y
code=$(get)
[ "$code" != 200 ] && ok "3. a passport where the rule asks for background check: refused (HTTP $code)" || fail "3: passport admitted"

stop_proxy client
stop_proxy server
px_kill_all
finish
