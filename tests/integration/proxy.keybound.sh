#!/usr/bin/env bash
# Key-bound SVIDs from the attested issuer (DECISIONS D44): a proxy pair
# whose agents generate their AK in memory and get an X509-SVID for it from
# `vmesh ca serve` (the bootstrap SVID files reach the issuer only), both
# with policy key-bound: require. Shown: --check validates the settings;
# the issuer down at start -> /ready 503 naming it, a handful of lines, no
# flood; the issuer up -> 200; an HTTP request passes through the pair and
# both sides count key-bound (version 3) attestations; the SVID is renewed
# at half its lifetime (max-ttl 60 s) for a new AK without a restart; traffic goes
# on; the issuer down again -> the SVID stays in force, then expires ->
# /ready 503 naming the expiry; the issuer back -> 200. Attackers as real
# processes: a proxy with the client's bootstrap key on an unendorsed
# platform (evidence-invalid, no SVID) and a TLS client without a
# certificate. The issuer's other refusals (a CSR for another key or
# another identity, a second request, a relayed attestation) need a client
# that lies: issuer.issuer.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
"$VMESH" ca issue --ca "$T/ca" --spiffe-id spiffe://example.org/issuer --out "$T/issuer" >/dev/null
ISS_PORT=$(free_port)
ISS_PID=
start_issuer() {
    "$VMESH" ca serve --ca "$T/ca" --listen "127.0.0.1:$ISS_PORT" --cert "$T/issuer-chain.pem" --key "$T/issuer.key" \
        --bundle "$T/ca/bundle.pem" --rv "$T/server-rv.json" --rv "$T/client-rv.json" --max-ttl 60s \
        >>"$T/issuer.out" 2>>"$T/issuer.err" &
    ISS_PID=$!
    px_pids+=("$ISS_PID")
    wait_port "$ISS_PORT" 60 || { echo "issuer did not start"; cat "$T/issuer.err"; exit 1; }
}
stop_issuer() { kill -TERM "$ISS_PID" 2>/dev/null; wait "$ISS_PID" 2>/dev/null; }

px_config server
px_config client
for role in server client; do
    sed -i "s|^  bundle: $T/ca/bundle.pem\$|&\n  keybound-issuer: { address: 127.0.0.1:$ISS_PORT, id: spiffe://example.org/issuer, retry: 1s }|; s|^  platform: psa\$|&\n  keybound: true|" "$T/$role.yaml"
    printf 'policy:\n  inline: { key-bound: require }\n' >> "$T/$role.yaml"
    grep -q "keybound: true" "$T/$role.yaml" && grep -q "keybound-issuer" "$T/$role.yaml" || { echo "config edit failed"; exit 1; }
done

# --check: valid; attester.keybound without an issuer names the missing key
"$VMESH" proxy -c "$T/server.yaml" --check >"$T/check.out" 2>&1 && ok "--check accepts the key-bound settings" || { fail "--check"; cat "$T/check.out"; }
grep -v keybound-issuer "$T/server.yaml" > "$T/bad.yaml"
"$VMESH" proxy -c "$T/bad.yaml" --check >"$T/check.out" 2>&1
[ $? = 1 ] && grep -q "identity.keybound-issuer" "$T/check.out" && ok "--check: attester.keybound without an issuer refused, naming identity.keybound-issuer" || { fail "--check of bad.yaml"; cat "$T/check.out"; }

# 1. the issuer is down at start: /ready 503 naming it, one line per retry
start_app
PX_NOT_READY_CAUSE="no key-bound SVID yet" start_proxy server
sleep 3
n=$(grep -c "no key-bound SVID (issuer" "$T/server.err")
[ "$n" -ge 1 ] && [ "$n" -le 8 ] && ok "issuer down: $n log lines in ~4 s (one per retry interval)" || fail "issuer down: $n log lines"
[ "$(metric "$SADMIN" vmesh_keybound_svid_failures_total)" -ge 1 ] && ok "vmesh_keybound_svid_failures_total counts the failures" || fail "failures metric"

# 2. the issuer comes up: both proxies get their SVID and become ready
start_issuer
wait_ready "$SADMIN" 60 && ok "issuer up: server /ready 200" || { fail "server never ready"; tail -5 "$T/server.err"; }
start_proxy client
grep -q "issued spiffe://example.org/ns/shop/sa/server" "$T/issuer.err" && grep -q "issued spiffe://example.org/ns/shop/sa/client" "$T/issuer.err" \
    && ok "the issuer issued one SVID to each, for the client certificate's ID" || { fail "issuer log"; cat "$T/issuer.err"; }
! grep -q "BEGIN.*PRIVATE" "$T"/*.err "$T"/*.out && ok "no key material in any log" || fail "a private key in a log"

# attackers at the issuer, as real processes: the client's bootstrap SVID
# (a stolen key file) on a platform no reference value endorses, and a
# client without any certificate
(cd "$T" && px_platform rogue "workload rogue v1")
RADMIN=$(free_port); ROUT=$(free_port)
sed "s|$T/client-|$T/rogue-|g; s|127.0.0.1:$CADMIN|127.0.0.1:$RADMIN|; s|listen: 127.0.0.1:$OUT_PORT|listen: 127.0.0.1:$ROUT|; s|cert: $T/rogue-chain.pem|cert: $T/client-chain.pem|; s|key: $T/rogue.key|key: $T/client.key|" \
    "$T/client.yaml" > "$T/rogue.yaml"
"$VMESH" proxy -c "$T/rogue.yaml" >"$T/rogue.out" 2>"$T/rogue.err" & ROGUE_PID=$!; px_pids+=("$ROGUE_PID")
wait_not_ready "$RADMIN" "attestation refused by the peer" 60 && ok "stolen bootstrap key on an unendorsed platform: no SVID, /ready 503 naming the refusal" \
    || { fail "rogue proxy"; tail -3 "$T/rogue.err"; }
grep -q "refused spiffe://example.org/ns/shop/sa/client .*: evidence-invalid\|refused spiffe://example.org/ns/shop/sa/client .*: not-affirming" "$T/issuer.err" \
    && ok "the issuer names the refusal: $(grep -o 'refused spiffe://example.org/ns/shop/sa/client ([0-9.]*): [a-z-]*' "$T/issuer.err" | head -1)" || { fail "issuer refusal line"; tail -3 "$T/issuer.err"; }
kill "$ROGUE_PID"; wait "$ROGUE_PID" 2>/dev/null
timeout 10 openssl s_client -connect "127.0.0.1:$ISS_PORT" -CAfile "$T/ca/bundle.pem" </dev/null >"$T/nocert.out" 2>&1
# (a plain TLS client: refused at 0.5-RTT for not attesting, before its
# missing certificate; issuer.issuer has an attesting client without one)
for _ in $(seq 50); do grep -q "refused ? (127.0.0.1)" "$T/issuer.err" && break; sleep 0.1; done
grep -qE "refused \? \(127.0.0.1\): (unattested-refused|tls-handshake)" "$T/issuer.err" \
    && ok "a plain TLS client without a certificate is refused: $(grep -oE 'refused \? \(127.0.0.1\): [a-z-]+' "$T/issuer.err" | tail -1)" \
    || { fail "no-cert client"; tail -3 "$T/issuer.err"; }

# 3. traffic through the key-bound pair
got=$(curl -s --max-time 30 "http://127.0.0.1:$OUT_PORT/s1.txt")
[ "$got" = "small file 1" ] && ok "an HTTP request through the key-bound pair" || fail "request through the pair: '$got'"
sp=$(metric "$SADMIN" 'vmesh_keybound_handshakes_total{direction="inbound",attester="peer"}')
so=$(metric "$SADMIN" 'vmesh_keybound_handshakes_total{direction="inbound",attester="own"}')
cp_=$(metric "$CADMIN" 'vmesh_keybound_handshakes_total{direction="outbound",attester="peer"}')
[ "$sp" -ge 1 ] && [ "$so" -ge 1 ] && [ "$cp_" -ge 1 ] && ok "both attestations key-bound (version 3): server peer=$sp own=$so, client peer=$cp_" \
    || fail "key-bound counters: server peer=$sp own=$so client peer=$cp_"
# the server's TLS leaf key as a TLS client sees it (the AK, D38)
leafkey() { timeout 10 openssl s_client -connect "127.0.0.1:$IN_PORT" -cert "$T/client.pem" -key "$T/client.key" -CAfile "$T/ca/bundle.pem" </dev/null 2>/dev/null | openssl x509 -noout -pubkey 2>/dev/null | sha256sum | cut -c1-16; }
k0=$(leafkey)
e0=$(metric "$SADMIN" vmesh_certificate_expiry_seconds)
[ "$e0" -gt 0 ] && [ "$e0" -le 60 ] && ok "the SVID in force is the issuer's (expires in ${e0}s <= max-ttl 60s)" || fail "expiry $e0"

# 4. renewal at half the lifetime, no restart, traffic goes on
for _ in $(seq 600); do [ "$(metric "$SADMIN" vmesh_keybound_svid_issued_total)" -ge 2 ] && break; sleep 0.1; done
[ "$(metric "$SADMIN" vmesh_keybound_svid_issued_total)" -ge 2 ] && ok "renewed at half its lifetime" || fail "no renewal within 60 s"
# the reload that puts it in force follows within the control thread's tick
for _ in $(seq 200); do [ "$(metric "$SADMIN" vmesh_certificate_expiry_seconds)" -gt 40 ] && break; sleep 0.1; done
e1=$(metric "$SADMIN" vmesh_certificate_expiry_seconds)
[ "$e1" -gt 40 ] && ok "the renewed SVID is in force (expiry ${e1}s)" || fail "expiry after renewal: $e1"
k1=$(leafkey)
[ -n "$k0" ] && [ -n "$k1" ] && [ "$k0" != "$k1" ] && ok "the renewed SVID certifies a new key (AK $k0 -> $k1)" || fail "leaf key before/after renewal: '$k0' '$k1'"
got=$(curl -s --max-time 30 "http://127.0.0.1:$OUT_PORT/s2.txt")
[ "$got" = "small file 2" ] && ok "a request after the renewal" || fail "request after renewal: '$got'"

# 5. the issuer goes away: the SVID stays in force until it expires
stop_issuer
f0=$(metric "$SADMIN" vmesh_keybound_svid_failures_total)
for _ in $(seq 600); do [ "$(metric "$SADMIN" vmesh_keybound_svid_failures_total)" -gt "$f0" ] && break; sleep 0.1; done
grep -q "renewal failed" "$T/server.err" && ok "renewal failure logged" || fail "no renewal-failure line"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SADMIN/ready")" = 200 ] && ok "issuer down: still ready on the current SVID" || fail "not ready while the SVID is valid"
got=$(curl -s --max-time 30 "http://127.0.0.1:$OUT_PORT/s3.txt")
[ "$got" = "small file 3" ] && ok "requests pass while the issuer is down" || fail "request with the issuer down: '$got'"
wait_not_ready "$SADMIN" "key-bound SVID expired" 60 && ok "expired: /ready 503 naming the expiry" || fail "no 503 after expiry"
nlines=$(grep -c "renewal failed\|no key-bound SVID (issuer" "$T/server.err")
[ "$nlines" -le 80 ] && ok "failing issuer: $nlines lines in all (one per retry)" || fail "log flood: $nlines lines"

# 6. the issuer is back: a new SVID, ready again
start_issuer
wait_ready "$SADMIN" 60 && ok "issuer back: /ready 200 again" || fail "not ready after the issuer came back"
wait_ready "$CADMIN" 60 || true
got=$(curl -s --max-time 30 "http://127.0.0.1:$OUT_PORT/s4.txt")
[ "$got" = "small file 4" ] && ok "a request after the issuer came back" || fail "request after recovery: '$got'"

stop_proxy client
stop_proxy server
stop_issuer
if grep -qE "LeakSanitizer|AddressSanitizer|runtime error" "$T/issuer.err"; then
    fail "issuer: sanitizer report"; grep -A30 -E "Sanitizer|runtime error" "$T/issuer.err" | head -60
else ok "issuer: no sanitizer report"; fi
finish
