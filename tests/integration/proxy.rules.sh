#!/usr/bin/env bash
# Per-peer policy rules (policy.rules, first match wins) at an inbound
# sidecar, with plain-mTLS clients (openssl s_client: no attestation):
# the rule for .../sa/legacy admits it unattested and it gets data; a peer
# no rule matches gets the default policy (unattested refused, no data); a
# SIGHUP that removes the rule re-appraises the open connection of the
# legacy peer and closes it (policy change), counted and logged.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v openssl >/dev/null || { echo "SKIP: openssl missing"; exit 77; }
px_setup
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/ns/shop/sa/legacy --out legacy >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/ns/shop/sa/intruder --out intruder >/dev/null
px_config server
cat >> "$T/server.yaml" <<'YAML'
policy:
  rules:
    - { peer: "spiffe://example.org/ns/shop/sa/legacy", allow-unattested: true }
    - { peer: "spiffe://example.org/ns/shop/*", max-evidence-age: 1h }
YAML
start_slow_app
start_proxy server

sclient() { # sclient WHO REQUEST_DELAY -> stdout of s_client
    (sleep "$2"; printf 'GET /s1.txt HTTP/1.0\r\n\r\n'; sleep 3) | timeout 8 openssl s_client -connect "127.0.0.1:$IN_PORT" \
        -tls1_3 -cert "$T/$1.pem" -key "$T/$1.key" -CAfile "$T/ca/bundle.pem" -quiet -ign_eof 2>/dev/null
}
sclient legacy 0.3 > "$T/legacy.out"
grep -q "small file 1" "$T/legacy.out" && ok "rule admits the legacy peer unattested: it gets data" || fail "legacy peer got: $(head -c 200 "$T/legacy.out")"
sclient intruder 0.3 > "$T/intruder.out"
grep -q "small file 1" "$T/intruder.out" && fail "unmatched peer got data" || ok "peer no rule admits gets no data (default policy)"
sleep 0.3
grep -q '"peer":"spiffe://example.org/ns/shop/sa/intruder".*"result":"refused".*unattested-refused' "$T/server-access.log" \
    && ok "access log: intruder refused, unattested-refused" || fail "access log lacks the intruder refusal"
grep -q '"peer":"spiffe://example.org/ns/shop/sa/legacy","mode":"none"' "$T/server-access.log" \
    && ok "access log: legacy admitted with mode none" || fail "access log lacks the legacy admission"

# an open legacy connection, then the rule goes away; its request is held
# back until the reload is done (no fixed sleeps: a loaded machine starts
# python3 or openssl in seconds, not milliseconds)
( for _ in $(seq 1 300); do [ -e "$T/reloaded" ] && break; sleep 0.1; done; sleep 0.5
  printf 'GET /s1.txt HTTP/1.0\r\n\r\n'; sleep 3 ) | timeout 40 openssl s_client -connect "127.0.0.1:$IN_PORT" -tls1_3 \
    -cert "$T/legacy.pem" -key "$T/legacy.key" -CAfile "$T/ca/bundle.pem" -quiet -ign_eof > "$T/legacy2.out" 2>/dev/null &
sc=$!
open_legacy() { curl -s "http://127.0.0.1:$SADMIN/peers" | grep -c '"state":"proxy".*"mode":"none"'; }
for _ in $(seq 1 100); do [ "$(open_legacy)" = 1 ] && break; sleep 0.1; done
n=$(open_legacy)
[ "$n" = 1 ] && ok "legacy connection open (mode none)" || fail "open legacy connections: $n"
sed -i '/peer: "spiffe:\/\/example.org\/ns\/shop\/sa\/legacy", allow-unattested: true/d' "$T/server.yaml"
kill -HUP "$SERVER_PID"
for _ in $(seq 1 100); do [ "$(metric "$SADMIN" 'vmesh_reloads_total{result="ok"}')" = 1 ] && break; sleep 0.1; done
touch "$T/reloaded"
wait $sc
grep -q "small file 1" "$T/legacy2.out" && fail "legacy connection still served after the rule was removed" || ok "policy change closed the legacy connection"
[ "$(metric "$SADMIN" vmesh_reappraisal_closed_total)" = 1 ] && ok "reappraisal_closed_total = 1" || fail "reappraisal metric"
grep -q "closing the connection with spiffe://example.org/ns/shop/sa/legacy: re-appraisal: unattested-refused" "$T/server.err" \
    && ok "log line names the peer and the reason" || fail "no reappraisal log line"
stop_proxy server
finish
