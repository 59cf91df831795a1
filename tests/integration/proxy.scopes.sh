#!/usr/bin/env bash
# Scoped reference-value providers (docs/FEDERATION.md "Scoped providers").
# The server sidecar syncs three RVPs: x (scoped to SPIFFE IDs under
# spiffe://example.org/ns/x/), y (under .../ns/y/) and z (trust domain
# z.example). The client sidecar's platform is the same whichever SVID it
# presents. Epoch 1: x and z approve that platform, y does not:
#  - the client as spiffe://example.org/ns/x/sa/client is admitted;
#  - as .../ns/y/sa/client it is refused: only y's reference values count
#    for it, and the refusal names them (x's approval does not help);
#  - as .../ns/shop/sa/client it is refused: no provider is scoped to it
#    (z approves the platform, but for trust domain z.example only).
# Epoch 2 reverses x and y: ns/y admitted, ns/x refused naming x's scope.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
for ns in x y; do
    "$VMESH" ca issue --ca ca --spiffe-id "spiffe://example.org/ns/$ns/sa/client" --out "c$ns" >/dev/null || fail "issue c$ns"
done
px_config server
px_config client
sed -i 's|peer: spiffe://example.org/ns/shop/\*|peer: spiffe://example.org/*|' "$T/server.yaml"
grep -q 'peer: spiffe://example.org/\*' "$T/server.yaml" || fail "server peer pattern rewrite"

# Three RVPs, each with its own key, served by `vmesh rvp serve`.
declare -A RVP_PORT
publish() { # publish NAME RVFILE
    cp "$2" "$T/rv-$1-in/rv.json"
    "$VMESH" rvp publish --key "rvp-$1.key" --in "$T/rv-$1-in" --out "$T/rv-$1-web" --name "$1" >/dev/null || fail "publish $1"
}
for r in x y z; do
    "$VMESH" keygen --type ec-p256 -o "rvp-$r.key" --pub "rvp-$r.pub" >/dev/null
    mkdir -p "$T/rv-$r-in" "$T/rv-$r-web"
done
publish x "$T/client-rv.json"
publish y "$T/server-rv.json"
publish z "$T/client-rv.json"
for r in x y z; do
    RVP_PORT[$r]=$(free_port)
    "$VMESH" rvp serve --root "$T/rv-$r-web" --listen "127.0.0.1:${RVP_PORT[$r]}" >"$T/rvp-$r.out" 2>"$T/rvp-$r.err" &
    px_pids+=($!)
    wait_port "${RVP_PORT[$r]}" || fail "rvp serve $r did not start"
done
python3 - "$T/server.yaml" "$T" "${RVP_PORT[x]}" "${RVP_PORT[y]}" "${RVP_PORT[z]}" <<'PY'
import sys
p, t, px, py, pz = sys.argv[1:]
s = open(p).read()
s = s.replace("  rv-files: [ %s/client-rv.active.json ]\n" % t,
  "  rvps:\n"
  "    - { name: x, url: \"http://127.0.0.1:%s\", key: %s/rvp-x.pub, schemes: [ psa ],\n"
  "        scope: { id-prefixes: [ \"spiffe://example.org/ns/x/\" ] } }\n"
  "    - { name: y, url: \"http://127.0.0.1:%s\", key: %s/rvp-y.pub, schemes: [ psa ],\n"
  "        scope: { id-prefixes: [ \"spiffe://example.org/ns/y/\" ] } }\n"
  "    - { name: z, url: \"http://127.0.0.1:%s\", key: %s/rvp-z.pub, schemes: [ psa ],\n"
  "        scope: { trust-domains: [ z.example ] } }\n"
  "  poll-interval: 2s\n  state-dir: %s/server-state\n" % (px, t, py, t, pz, t, t))
open(p, "w").write(s)
PY
grep -q "trust-domains: \[ z.example \]" "$T/server.yaml" || fail "server config rewrite"

# Configuration errors name the key.
sed 's|trust-domains: \[ z.example \]|trust-domains: [ "spiffe://z.example" ]|' "$T/server.yaml" > "$T/bad.yaml"
expect_exit 1 "a SPIFFE ID as trust domain refused" -- "$VMESH" proxy -c "$T/bad.yaml" --check-syntax
expect_stderr 'scope.trust-domains'
sed 's|id-prefixes: \[ "spiffe://example.org/ns/x/" \]|id-prefixes: [ "example.org/ns/x" ]|' "$T/server.yaml" > "$T/bad.yaml"
expect_exit 1 "a prefix that is no SPIFFE ID refused" -- "$VMESH" proxy -c "$T/bad.yaml" --check-syntax
expect_stderr 'is not a SPIFFE ID prefix'
sed 's|scope: { trust-domains: \[ z.example \] }|scope: { trust-domains: [] }|' "$T/server.yaml" > "$T/bad.yaml"
expect_exit 1 "an empty scope refused" -- "$VMESH" proxy -c "$T/bad.yaml" --check-syntax
expect_stderr 'a scope needs trust-domains or id-prefixes'
sed 's|scope: { trust-domains: \[ z.example \] }|scope: { domains: [ z.example ] }|' "$T/server.yaml" > "$T/bad.yaml"
expect_exit 1 "an unknown scope key refused" -- "$VMESH" proxy -c "$T/bad.yaml" --check-syntax
expect_stderr 'scope.domains'

start_app
start_proxy server
for r in x y z; do
    [ "$(metric "$SADMIN" "vmesh_rv_epoch{rvp=\"$r\"}")" = 1 ] && ok "server synced $r epoch 1" || fail "$r epoch: $(metric "$SADMIN" "vmesh_rv_epoch{rvp=\"$r\"}")"
done

as_client() { # as_client CERTBASE: (re)start the client sidecar with that SVID
    [ -n "${CLIENT_PID:-}" ] && kill -0 "$CLIENT_PID" 2>/dev/null && stop_proxy client
    sed -i -E "s|cert: .*|cert: $T/$1-chain.pem|; s|^  key: $T/[a-z]+\.key|  key: $T/$1.key|" "$T/client.yaml"
    start_proxy client
}
get() { curl -s -m 20 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OUT_PORT/s1.txt"; }
# refused_with ID TEXT: the server's access log has a refusal of ID whose reason contains TEXT
refused_with() {
    python3 - "$T/server-access.log" "$1" "$2" <<'PY'
import json, sys
log, peer, text = sys.argv[1:]
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("peer") == peer and e.get("result") != "ok" and text in json.dumps(e):
        sys.exit(0)
sys.exit(1)
PY
}

# ---- epoch 1: x and z approve the client's platform, y does not
as_client cx
[ "$(get)" = 200 ] && ok "ns/x client admitted (x approves its platform, x is scoped to it)" || fail "ns/x client not admitted"
as_client cy
[ "$(get)" = 000 ] && ok "ns/y client refused although x approves the same platform" || fail "ns/y client got an answer"
sleep 0.5
refused_with spiffe://example.org/ns/y/sa/client "reference values of y only" \
    && ok "refusal names the scope (y's reference values only)" || { fail "no refusal naming y's scope"; tail -3 "$T/server-access.log"; }
as_client client
[ "$(get)" = 000 ] && ok "ns/shop client refused although z approves its platform" || fail "ns/shop client got an answer"
sleep 0.5
refused_with spiffe://example.org/ns/shop/sa/client "no reference-value provider is scoped to trust domain example.org" \
    && ok "refusal names the trust domain no provider is scoped to" || { fail "no refusal naming the unscoped domain"; tail -3 "$T/server-access.log"; }
curl -s "http://127.0.0.1:$SADMIN/peers" | grep -q "no reference-value provider is scoped to trust domain example.org" \
    && ok "/peers shows the refusal with its reason" || fail "/peers lacks the scope refusal"

# ---- epoch 2: the reverse, y approves and x does not
publish x "$T/server-rv.json"
publish y "$T/client-rv.json"
for i in $(seq 1 60); do
    [ "$(metric "$SADMIN" 'vmesh_rv_epoch{rvp="x"}')" = 2 ] && [ "$(metric "$SADMIN" 'vmesh_rv_epoch{rvp="y"}')" = 2 ] && break
    sleep 0.5
done
[ "$(metric "$SADMIN" 'vmesh_rv_epoch{rvp="y"}')" = 2 ] && ok "server synced x and y epoch 2" || fail "epoch 2 not synced"
as_client cy
[ "$(get)" = 200 ] && ok "ns/y client admitted once y approves its platform" || fail "ns/y client not admitted in epoch 2"
as_client cx
[ "$(get)" = 000 ] && ok "ns/x client refused although y approves the same platform" || fail "ns/x client got an answer in epoch 2"
sleep 0.5
refused_with spiffe://example.org/ns/x/sa/client "reference values of x only" \
    && ok "refusal names the scope (x's reference values only)" || { fail "no refusal naming x's scope"; tail -3 "$T/server-access.log"; }
stop_proxy client
stop_proxy server
finish
