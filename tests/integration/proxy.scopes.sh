#!/usr/bin/env bash
# Scoped reference-value providers (docs/FEDERATION.md "Scoped providers").
# The server sidecar is Enterprise X's (trust domain example.org) and
# federates with y.example (Enterprise Y) and z.example. It syncs three RVPs:
#   x    scope trust-domains [example.org]          (X's RVP)
#   y    scope trust-domains [y.example]            (Y's RVP)
#   lab  scope id-prefixes [spiffe://y.example/ns/lab/]
# No RVP is scoped to z.example. The client sidecar runs one platform (the
# "attacker" workload) whichever SVID it presents; each RVP either publishes
# values that match it (client-rv) or values that do not (server-rv).
# Epoch 1: y approves the platform, x and lab do not.
#  - as an X identity: refused although Y's RVP approves the very platform
#    (Y's RVP cannot vouch for an X peer); the refusal names x's scope;
#  - as a Y identity: admitted (y is scoped to it); rv_epochs shows y only;
#  - as a z.example identity: refused, no provider is scoped to z.example.
# Epoch 2, the reverse: x and lab approve, y does not.
#  - X identity admitted; Y identity (ns/ai) refused naming y's scope (X's
#    RVP cannot vouch for a Y peer); Y identity under ns/lab admitted through
#    lab's prefix scope.
# Plus the configuration errors (unknown key, empty scope, bad entries,
# scopes with rv-files or a central verifier).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
# The test outlives one ring's validity (two 60 s periods) under load: a bell
# with a 15 min period (rings now, then not again during the test: no tick
# boundary mid-test).
"$VMESH" rvp tick --key "$T/bell.key" --out "$T/bellweb" --every 900 >"$T/tick.out" 2>&1 &
px_pids+=($!)
for _ in $(seq 100); do
    "$VMESH" rvp tick --show "$T/bellweb/bell.cwt" 2>/dev/null | grep -q '"tick":2,' && break
    sleep 0.1
done
"$VMESH" rvp tick --show "$T/bellweb/bell.cwt" | grep -q '"tick":2,' || fail "the bell did not ring with a long period"
for td in y z; do "$VMESH" ca init --trust-domain $td.example --out ca-$td >/dev/null || fail "ca init $td"; done
"$VMESH" ca issue --ca ca-y --spiffe-id spiffe://y.example/ns/ai/sa/client --out cy >/dev/null || fail "issue cy"
"$VMESH" ca issue --ca ca-y --spiffe-id spiffe://y.example/ns/lab/sa/client --out clab >/dev/null || fail "issue clab"
"$VMESH" ca issue --ca ca-z --spiffe-id spiffe://z.example/ns/ai/sa/client --out cz >/dev/null || fail "issue cz"
px_config server
px_config client
cp "$T/client.yaml" "$T/client.tmpl"
sed -i '/peer: spiffe:\/\/example.org\/ns\/shop\/\*/d' "$T/server.yaml"

# Three RVPs, each with its own key, served by `vmesh rvp serve`.
declare -A RVP_PORT
publish() { # publish NAME RVFILE
    cp "$2" "$T/rv-$1-in/rv.json"
    "$VMESH" rvp publish --key "rvp-$1.key" --in "$T/rv-$1-in" --out "$T/rv-$1-web" --name "$1" >/dev/null || fail "publish $1"
}
for r in x y lab; do
    "$VMESH" keygen --type ec-p256 -o "rvp-$r.key" --pub "rvp-$r.pub" >/dev/null
    mkdir -p "$T/rv-$r-in" "$T/rv-$r-web"
done
publish x "$T/server-rv.json"
publish y "$T/client-rv.json"
publish lab "$T/server-rv.json"
for r in x y lab; do
    RVP_PORT[$r]=$(free_port)
    "$VMESH" rvp serve --root "$T/rv-$r-web" --listen "127.0.0.1:${RVP_PORT[$r]}" >"$T/rvp-$r.out" 2>"$T/rvp-$r.err" &
    px_pids+=($!)
    wait_port "${RVP_PORT[$r]}" || fail "rvp serve $r did not start"
done
python3 - "$T/server.yaml" "$T" "${RVP_PORT[x]}" "${RVP_PORT[y]}" "${RVP_PORT[lab]}" <<'PY'
import sys
p, t, px, py, pl = sys.argv[1:]
s = open(p).read()
s = s.replace("  bundle: %s/ca/bundle.pem\n" % t,
  "  bundle: %s/ca/bundle.pem\n"
  "  federation:\n"
  "    - { trust-domain: y.example, bundle: %s/ca-y/bundle.pem }\n"
  "    - { trust-domain: z.example, bundle: %s/ca-z/bundle.pem }\n" % (t, t, t))
s = s.replace("  rv-files: [ %s/client-rv.active.json ]\n" % t,
  "  rvps:\n"
  "    - { name: x, url: \"http://127.0.0.1:%s\", key: %s/rvp-x.pub, schemes: [ psa ],\n"
  "        scope: { trust-domains: [ example.org ] } }\n"
  "    - { name: y, url: \"http://127.0.0.1:%s\", key: %s/rvp-y.pub, schemes: [ psa ],\n"
  "        scope: { trust-domains: [ y.example ] } }\n"
  "    - { name: lab, url: \"http://127.0.0.1:%s\", key: %s/rvp-lab.pub, schemes: [ psa ],\n"
  "        scope: { id-prefixes: [ \"spiffe://y.example/ns/lab/\" ] } }\n"
  "  poll-interval: 2s\n  state-dir: %s/server-state\n" % (px, t, py, t, pl, t, t))
open(p, "w").write(s)
PY
grep -q "trust-domains: \[ y.example \]" "$T/server.yaml" && grep -q "trust-domain: z.example" "$T/server.yaml" \
    || { fail "server config rewrite"; finish; }

# ---- configuration errors name the key
bad() { # bad DESCRIPTION STDERR-REGEX SED-EXPR
    sed "$3" "$T/server.yaml" > "$T/bad.yaml"
    cmp -s "$T/bad.yaml" "$T/server.yaml" && { fail "$1: the edit changed nothing"; return; }
    expect_exit 1 "$1" -- "$VMESH" proxy -c "$T/bad.yaml" --check-syntax
    expect_stderr "$2"
}
bad "an unknown scope key refused" 'scope.*domains.*unknown|unknown.*scope.*domains' \
    's|scope: { trust-domains: \[ y.example \] }|scope: { domains: [ y.example ] }|'
bad "an empty scope refused" 'rvps\[1\].scope.*needs trust-domains or id-prefixes' \
    's|scope: { trust-domains: \[ y.example \] }|scope: {}|'
bad "an empty trust-domains list refused" 'scope.trust-domains.*is empty' \
    's|trust-domains: \[ y.example \]|trust-domains: []|'
bad "a SPIFFE ID as trust domain refused" 'scope.trust-domains.*is not a trust domain' \
    's|trust-domains: \[ y.example \]|trust-domains: [ "spiffe://y.example" ]|'
bad "a prefix that is no SPIFFE ID refused" 'scope.id-prefixes.*is not a SPIFFE ID prefix' \
    's|id-prefixes: \[ "spiffe://y.example/ns/lab/" \]|id-prefixes: [ "y.example/ns/lab" ]|'
bad "a prefix without a path refused" 'scope.id-prefixes.*is not a SPIFFE ID prefix' \
    's|id-prefixes: \[ "spiffe://y.example/ns/lab/" \]|id-prefixes: [ "spiffe://y.example/" ]|'
bad "scopes with rv-files refused" 'verifier.rv-files.*scoped RVPs' \
    "s|^  poll-interval: 2s|  rv-files: [ $T/client-rv.json ]\n  poll-interval: 2s|"
bad "scopes with a central verifier refused" 'verifier.central.*scoped RVPs' \
    "s|^  poll-interval: 2s|  central: { url: \"https://127.0.0.1:9\", key: $T/rvp-x.pub }\n  poll-interval: 2s|"
expect_exit 0 "the scoped configuration itself is accepted" -- "$VMESH" proxy -c "$T/server.yaml" --check-syntax

start_app
start_proxy server
for r in x y lab; do
    [ "$(metric "$SADMIN" "vmesh_rv_epoch{rvp=\"$r\"}")" = 1 ] && ok "server synced $r epoch 1" || fail "$r epoch: $(metric "$SADMIN" "vmesh_rv_epoch{rvp=\"$r\"}")"
done

# as_client CERTBASE OWN-CA: (re)start the client sidecar with that SVID; its
# own domain's bundle is OWN-CA's, and it federates with example.org (the
# server's domain) when that is another domain.
as_client() {
    [ -n "${CLIENT_PID:-}" ] && kill -0 "$CLIENT_PID" 2>/dev/null && { stop_proxy client >/dev/null; }
    python3 - "$T" "$1" "$2" <<'PY'
import sys
t, base, ca = sys.argv[1:]
s = open(t + "/client.tmpl").read()
s = s.replace("  cert: %s/client-chain.pem\n" % t, "  cert: %s/%s-chain.pem\n" % (t, base))
s = s.replace("  key: %s/client.key\n" % t, "  key: %s/%s.key\n" % (t, base))
fed = "" if ca == "ca" else "  federation:\n    - { trust-domain: example.org, bundle: %s/ca/bundle.pem }\n" % t
s = s.replace("  bundle: %s/ca/bundle.pem\n" % t, "  bundle: %s/%s/bundle.pem\n%s" % (t, ca, fed))
open(t + "/client.yaml", "w").write(s)
PY
    start_proxy client
}
get() { curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt"; }
# refused_with ID TEXT: the server's access log has a refusal of ID whose reason contains TEXT
refused_with() {
    local i
    for i in $(seq 1 20); do
        python3 - "$T/server-access.log" "$1" "$2" <<'PY' && return 0
import json, sys
log, peer, text = sys.argv[1:]
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("peer") == peer and e.get("result") == "refused" and text in e.get("close_reason", ""):
        sys.exit(0)
sys.exit(1)
PY
        sleep 0.25
    done
    tail -2 "$T/server-access.log"
    return 1
}
# admitted_epochs ID: rv_epochs of ID's last admitted connection
admitted_epochs() {
    python3 - "$T/server-access.log" "$1" <<'PY'
import json, sys
log, peer = sys.argv[1:]
last = None
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("peer") == peer and e.get("result") == "ok":
        last = e.get("rv_epochs")
print(json.dumps(last, sort_keys=True))
PY
}
X=spiffe://example.org/ns/shop/sa/client
Y=spiffe://y.example/ns/ai/sa/client
LAB=spiffe://y.example/ns/lab/sa/client
Z=spiffe://z.example/ns/ai/sa/client

# ---- epoch 1: only Y's RVP approves the client's platform
as_client client ca
[ "$(get)" = 000 ] && ok "X peer refused although Y's RVP approves its platform" || fail "X peer got an answer in epoch 1"
refused_with "$X" "only the reference values of RVP x (scope example.org) count for this peer" \
    && ok "the refusal names the scope (RVP x, example.org)" || fail "no refusal of the X peer naming x's scope"
as_client cy ca-y
[ "$(get)" = 200 ] && ok "Y peer admitted (Y's RVP approves, it is scoped to y.example)" || { fail "Y peer not admitted in epoch 1"; tail -2 "$T/server-access.log"; }
sleep 0.5
[ "$(admitted_epochs "$Y")" = '{"y": 1}' ] && ok "Y peer's rv_epochs name its scoped RVP only" || fail "Y peer rv_epochs: $(admitted_epochs "$Y")"
as_client cz ca-z
[ "$(get)" = 000 ] && ok "z.example peer refused" || fail "z.example peer got an answer"
refused_with "$Z" "no reference-value provider is scoped to trust domain z.example" \
    && ok "the refusal names the trust domain no provider is scoped to" || fail "no refusal naming z.example"
curl -s "http://127.0.0.1:$SADMIN/dashboard/state" > "$T/state.json"
python3 - "$T/state.json" "$X" <<'PY' && ok "dashboard: the X peer's refusal with its scope" || fail "dashboard refusals: $(head -c 600 "$T/state.json")"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if any(r.get("peer") == sys.argv[2] and "RVP x (scope example.org)" in r.get("reason", "")
                  for r in d.get("refusals", [])) else 1)
PY

# ---- epoch 2, the reverse: X's RVP and lab approve, Y's does not
publish x "$T/client-rv.json"
publish y "$T/server-rv.json"
publish lab "$T/client-rv.json"
for i in $(seq 1 120); do
    [ "$(metric "$SADMIN" 'vmesh_rv_epoch{rvp="x"}')" = 2 ] && [ "$(metric "$SADMIN" 'vmesh_rv_epoch{rvp="y"}')" = 2 ] \
        && [ "$(metric "$SADMIN" 'vmesh_rv_epoch{rvp="lab"}')" = 2 ] && break
    sleep 0.5
done
[ "$(metric "$SADMIN" 'vmesh_rv_epoch{rvp="lab"}')" = 2 ] && [ "$(metric "$SADMIN" 'vmesh_rv_epoch{rvp="y"}')" = 2 ] \
    && ok "server synced x, y and lab epoch 2" || fail "epoch 2 not synced"
as_client cy ca-y
[ "$(get)" = 000 ] && ok "Y peer refused although X's RVP approves its platform" || fail "Y peer got an answer in epoch 2"
refused_with "$Y" "only the reference values of RVP y (scope y.example) count for this peer" \
    && ok "the refusal names the scope (RVP y, y.example)" || fail "no refusal of the Y peer naming y's scope"
as_client clab ca-y
[ "$(get)" = 200 ] && ok "Y peer under ns/lab admitted through lab's prefix scope" || { fail "ns/lab peer not admitted"; tail -2 "$T/server-access.log"; grep -i 'rvp\|snapshot' "$T/server.err" | tail -5; }
sleep 0.5
[ "$(admitted_epochs "$LAB")" = '{"lab": 2, "y": 2}' ] && ok "ns/lab peer's rv_epochs: lab and y" || fail "ns/lab rv_epochs: $(admitted_epochs "$LAB")"
as_client client ca
[ "$(get)" = 200 ] && ok "X peer admitted once X's RVP approves its platform" || { fail "X peer not admitted in epoch 2"; tail -2 "$T/server-access.log"; }
stop_proxy client
stop_proxy server
finish
