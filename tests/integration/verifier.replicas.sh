#!/usr/bin/env bash
# Two `vmesh verifier serve` replicas with the same EAR key and no shared
# storage behind a real HAProxy (roundrobin, one request per connection):
# newSession is answered by one replica and the evidence POST of the same
# session by the other (each names itself in the Vmesh-Replica header), and
# the EAR verifies. A replica with its own session key refuses the ids of
# the pair; DELETE on one replica is per-replica (docs/VERIFIER.md).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/verifier-lib.bash"
command -v haproxy >/dev/null || { echo "SKIP: haproxy not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

start_verifier R1 --key "$T/ear.pem" --rv "$T/rv.json" --threads 1
start_verifier R2 --key "$T/ear.pem" --rv "$T/rv.json" --threads 1

# A free port for HAProxy: ask the kernel, retry if someone takes it first.
start_haproxy() {
    local try port
    for try in 1 2 3 4 5; do
        port=$(free_port)
        cat >"$T/haproxy.cfg" <<CFG
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    option http-server-close
frontend verifier
    bind 127.0.0.1:$port
    default_backend replicas
backend replicas
    balance roundrobin
    server r1 127.0.0.1:$PORT_R1
    server r2 127.0.0.1:$PORT_R2
CFG
        haproxy -f "$T/haproxy.cfg" -db >"$T/haproxy.log" 2>&1 &
        HAPID=$!
        cleanup_hooks+=("kill $HAPID 2>/dev/null; wait $HAPID 2>/dev/null")
        for _ in $(seq 50); do
            curl -s -o /dev/null "http://127.0.0.1:$port/.well-known/veraison/verification" && { LB="http://127.0.0.1:$port"; return 0; }
            kill -0 "$HAPID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$HAPID" 2>/dev/null; wait "$HAPID" 2>/dev/null
    done
    echo "haproxy did not start:"; cat "$T/haproxy.log"; exit 1
}
start_haproxy
ok "haproxy in front of replicas R1 (:$PORT_R1) and R2 (:$PORT_R2) at $LB"

# Roundrobin alternates per request; find a session whose two steps landed on
# different replicas (the first try should already do it).
crossed=0
for i in 1 2 3 4; do
    req ns -X POST -H "Accept: $SESSION_MT" "$LB$API/newSession?nonceSize=32"
    [ "$(code ns)" = 201 ] || { fail "newSession through haproxy: $(code ns) $(cat "$T/ns.body")"; break; }
    first=$(hdr ns Vmesh-Replica)
    evidence "$(b64url_hex "$(json_get "$T/ns.body" "d['nonce']")")" "$T/token.cose"
    req ev -X POST -H "Accept: $SESSION_MT" -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "$LB$API/$(hdr ns Location)"
    second=$(hdr ev Vmesh-Replica)
    echo "  session $i: newSession on $first, evidence on $second -> $(code ev)"
    if [ "$first" != "$second" ] && [ -n "$first" ] && [ -n "$second" ]; then crossed=1; break; fi
done
[ "$crossed" = 1 ] && ok "one session, two replicas: newSession on $first, evidence on $second" \
    || fail "never saw the two steps on different replicas"
[ "$(code ev)" = 200 ] && [ "$(json_get "$T/ev.body" "d['status']")" = complete ] \
    && ok "evidence POST on the other replica: 200 complete" || fail "evidence: $(code ev) $(cat "$T/ev.body")"
json_get "$T/ev.body" "d['result']" >"$T/ear.jwt"
expect_exit 0 "EAR from the second replica verifies and is affirming" -- "$VMESH" ear verify --key "$T/ear.pub" "$T/ear.jwt"

# The completed id (Content-Location) is readable on either replica directly.
CLOC=$(hdr ev Content-Location)
for r in R1 R2; do
    eval "p=\$PORT_$r"
    req g -H "Accept: $SESSION_MT" "http://127.0.0.1:$p$API/$CLOC"
    [ "$(code g)" = 200 ] && [ "$(json_get "$T/g.body" "d['status']")" = complete ] \
        && ok "GET of the completed session on $r: complete" || fail "GET on $r: $(code g)"
done

# DELETE is per replica: the replica that deleted refuses the id, the other
# still serves it until it expires (documented).
L=$(hdr ns Location)
req d -X DELETE "http://127.0.0.1:$PORT_R1$API/$L"
[ "$(code d)" = 204 ] && ok "DELETE on R1: 204" || fail "DELETE on R1: $(code d)"
req g1 -H "Accept: $SESSION_MT" "http://127.0.0.1:$PORT_R1$API/$L"
[ "$(code g1)" = 404 ] && ok "R1 refuses the deleted session: 404" || fail "R1 after DELETE: $(code g1)"
req g2 -H "Accept: $SESSION_MT" "http://127.0.0.1:$PORT_R2$API/$L"
[ "$(code g2)" = 200 ] && ok "R2 (no shared storage) still serves it until expiry: 200" || fail "R2 after DELETE on R1: $(code g2)"

# A third replica with another session key refuses the pair's session ids.
echo "a-different-session-key-of-at-least-32-bytes" >"$T/other.key"
start_verifier R3 --key "$T/ear.pem" --rv "$T/rv.json" --session-key "$T/other.key"
req x -X POST -H "Content-Type: $PSA_MT" --data-binary @"$T/token.cose" "http://127.0.0.1:$PORT_R3$API/$L"
[ "$(code x)" = 404 ] && ok "replica with another session key: 404" || fail "R3: $(code x) $(cat "$T/x.body")"

stop_verifier R3
stop_verifier R2
stop_verifier R1
finish
