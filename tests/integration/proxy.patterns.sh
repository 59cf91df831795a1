#!/usr/bin/env bash
# Per-peer attestation patterns (docs/FEDERATION.md "Per-peer patterns"):
# a rule gives spiffe://example.org/ns/shop/sa/legacy the pattern
# identity-only (an SVID, no TEE: a SPIRE-issued workload). At the route
# "web" it is admitted and shown as identity-only in the access log, /peers
# and metrics; at the route "secure" (min-pattern: attested) it is refused
# with the route named, while an attested client sidecar is admitted there.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
px_setup
SEC_PORT=$(free_port)
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/ns/shop/sa/legacy --out legacy >/dev/null
px_config server
cat >> "$T/server.yaml" <<YAML
  - { name: secure, listen: "127.0.0.1:$SEC_PORT", app: "127.0.0.1:$APP_PORT", min-pattern: attested }
policy:
  rules:
    - { peer: "spiffe://example.org/ns/shop/sa/legacy", pattern: identity-only }
    - { peer: "spiffe://example.org/ns/shop/*", pattern: background-check }
YAML
px_config client
sed -i "s/upstreams: \[ 127.0.0.1:$IN_PORT \]/upstreams: [ 127.0.0.1:$SEC_PORT ]/" "$T/client.yaml"
# configuration errors name the key
sed 's/pattern: identity-only/pattern: spire/' "$T/server.yaml" > "$T/bad.yaml"
expect_exit 1 "unknown pattern refused" -- "$VMESH" proxy -c "$T/bad.yaml" --check-syntax
expect_stderr '"spire" is not a pattern'
sed 's/min-pattern: attested/min-pattern: tee/' "$T/server.yaml" > "$T/bad.yaml"
expect_exit 1 "unknown min-pattern refused" -- "$VMESH" proxy -c "$T/bad.yaml" --check-syntax
expect_stderr 'min-pattern: must be attested or identity-only'
start_slow_app
start_proxy server
start_proxy client

sclient() { # sclient PORT -> stdout
    (sleep 0.3; printf 'GET /s1.txt HTTP/1.0\r\n\r\n'; sleep 2) | timeout 8 openssl s_client -connect "127.0.0.1:$1" \
        -tls1_3 -cert "$T/legacy.pem" -key "$T/legacy.key" -CAfile "$T/ca/bundle.pem" -quiet -ign_eof 2>/dev/null
}
sclient "$IN_PORT" > "$T/web.out"
grep -q "small file 1" "$T/web.out" && ok "identity-only peer admitted at route web" || fail "web: $(head -c 200 "$T/web.out")"
sclient "$SEC_PORT" > "$T/sec.out"
grep -q "small file" "$T/sec.out" && fail "identity-only peer got data on route secure" || ok "identity-only peer refused at route secure"
for _ in $(seq 50); do grep -q '"listener":"secure"' "$T/server-access.log" && break; sleep 0.1; done
grep -q '"listener":"web".*"peer":"spiffe://example.org/ns/shop/sa/legacy","mode":"none","tier":"none","pattern":"identity-only".*"result":"ok"' "$T/server-access.log" \
    && ok "access log: web, legacy, pattern identity-only, ok" || { fail "access log web line"; cat "$T/server-access.log"; }
grep -q '"listener":"secure".*"pattern":"identity-only".*"result":"refused".*route secure needs an attested peer; spiffe://example.org/ns/shop/sa/legacy showed its identity only' "$T/server-access.log" \
    && ok "access log: secure refusal names the route and the peer" || { fail "access log secure line"; cat "$T/server-access.log"; }
[ "$(metric "$SADMIN" vmesh_route_refused_total)" = 1 ] && ok "vmesh_route_refused_total 1" || fail "route_refused metric"
[ "$(metric "$SADMIN" 'vmesh_peers_admitted_total{pattern="identity-only"}')" = 1 ] && ok "admitted identity-only: 1" || fail "identity-only metric"

# /peers while an identity-only connection is open
( sleep 0.3; printf 'GET /slow?s=4 HTTP/1.0\r\n\r\n'; sleep 6 ) | timeout 12 openssl s_client -connect "127.0.0.1:$IN_PORT" -tls1_3 \
    -cert "$T/legacy.pem" -key "$T/legacy.key" -CAfile "$T/ca/bundle.pem" -quiet -ign_eof >/dev/null 2>&1 &
sc=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$SADMIN/peers" | grep -q '"pattern":"identity-only"' && break; sleep 0.1; done
curl -s "http://127.0.0.1:$SADMIN/peers" | grep -q '"listener":"web","state":"[a-z]*","peer":"spiffe://example.org/ns/shop/sa/legacy","mode":"none","tier":"none","pattern":"identity-only"' \
    && ok "/peers shows the open connection as identity-only" || { fail "/peers"; curl -s "http://127.0.0.1:$SADMIN/peers"; }
wait $sc

# the attested client sidecar uses route secure
curl -s -m 20 "http://127.0.0.1:$OUT_PORT/s2.txt" > "$T/att.out"
grep -q "small file 2" "$T/att.out" && ok "attested peer admitted at route secure" || { fail "attested at secure: $(head -c 200 "$T/att.out")"; tail -5 "$T/server.err"; }
# the line is written when the connection ends, after curl has its answer
att_line='"listener":"secure".*"peer":"spiffe://example.org/ns/shop/sa/client","mode":"[a-z-]*","tier":"affirming","pattern":"attested".*"result":"ok"'
for _ in $(seq 100); do grep -q "$att_line" "$T/server-access.log" && break; sleep 0.1; done
grep -q "$att_line" "$T/server-access.log" \
    && ok "access log: client attested at secure" || { fail "access log attested line"; grep secure "$T/server-access.log"; }
[ "$(metric "$SADMIN" 'vmesh_peers_admitted_total{pattern="attested"}')" -ge 1 ] && ok "admitted attested counted" || fail "attested metric"
stop_proxy client
stop_proxy server
finish
