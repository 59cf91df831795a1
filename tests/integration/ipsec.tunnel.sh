#!/usr/bin/env bash
# Attested IPsec between two sites with real strongSwan (ipsec_lib.bash has
# the topology). A branch router and a main router, each with its own charon
# and vmesh ipsec; the branch dials the main router's attested endpoint.
#  1. before the gateways attest, host-b cannot reach host-m (ping, HTTP);
#  2. after mutual attestation the tunnel is up: ping and HTTP work, charon
#     authenticated both rounds (SVID certificate, then the derived PSK);
#  3. on the underlay every packet between the sites is ESP (in UDP 4500),
#     and a marker that crosses the tunnel never appears in clear there;
#  4. an epoch change (bell tick) re-attests and re-keys make-before-break
#     while a ping runs every 50 ms: the lost pings are counted;
#  5. the RVP revokes the branch's workload: the main gateway terminates the
#     IKE SA and removes the credential within one poll interval;
#  6. the RVP restores it: the tunnel comes back.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/ipsec_lib.bash"
command -v tcpdump >/dev/null || { echo "SKIP: tcpdump missing"; exit 77; }
ix_setup

# ---- 1. nothing before attestation
can_ping && fail "host-b reached host-m before any attestation" || ok "no route between the sites before attestation (ping fails)"
mkdir -p "$T/www"; printf 'VMESH-IPSEC-MARKER-%s\n' "$(openssl rand -hex 8)" > "$T/www/marker.txt"
MARKER=$(cut -c1-19 "$T/www/marker.txt")
head -c 200000 /dev/urandom > "$T/www/big.bin"
ip netns exec "$NS_HM" python3 -m http.server --bind 198.18.2.2 --directory "$T/www" 8000 >"$T/http.out" 2>&1 &
ix_pids+=($!)
for _ in $(seq 50); do in_ns "$NS_HM" curl -s -o /dev/null http://198.18.2.2:8000/ && break; sleep 0.1; done
code=$(in_ns "$NS_HB" curl -s -m 2 -o /dev/null -w '%{http_code}' http://198.18.2.2:8000/marker.txt)
[ "$code" = 000 ] && ok "HTTP from host-b fails before attestation" || fail "HTTP before attestation: $code"
ix_gw main
can_ping && fail "reachable with only the main gateway running" || ok "still unreachable with only the main gateway up"
[ "$(swanctl_ rm --list-conns 2>/dev/null | grep -c vmesh-)" = 0 ] && ok "main charon holds no connection before any attested session" ||
    fail "main charon has a connection before attestation"

# ---- 2. mutual attestation brings the tunnel up
t0=$(date +%s.%N)
ix_gw branch
wait_state "$NS_RB" $ADMIN_B up 30 && ok "branch gateway: tunnel up" || { fail "tunnel did not come up"; tail -20 "$T/branch.err" "$T/main.err"; finish; }
wait_state "$NS_RM" $ADMIN_M up 10 && ok "main gateway: tunnel up" || fail "main gateway not up"
t1=$(date +%s.%N)
echo "  time from starting the branch gateway to a working tunnel: $(python3 -c "print(round($t1-$t0,2))") s"
can_ping && ok "ping host-b -> host-m through the tunnel" || fail "ping after attestation"
[ "$(in_ns "$NS_HB" curl -s -m 5 http://198.18.2.2:8000/marker.txt | cut -c1-19)" = "$MARKER" ] && ok "HTTP through the tunnel" || fail "HTTP after attestation"
vstatus rm | grep -q '^shared vmesh-branch' && ok "main charon holds the derived credential (get-shared)" || fail "no credential in the main charon"
for who in branch main; do
    grep -q '"event":"attested"' "$T/$who-access.log" && ok "$who access log: attested" || fail "$who access log lacks attested"
done
python3 - "$T/branch-access.log" <<'PY' && ok "branch: attested before up (access log order)" || fail "access log order"
import json, sys
ev = [json.loads(l)["event"] for l in open(sys.argv[1])]
sys.exit(0 if "attested" in ev and "up" in ev and ev.index("attested") < ev.index("up") else 1)
PY
grep -q "authentication of 'spiffe://vmesh.test/gw/branch' with ECDSA_WITH_SHA256_DER successful" "$T/rm/charon.log" &&
    ok "charon (main), round 1: the branch's SVID certificate" || fail "charon log lacks the certificate round"
grep -q "authentication of 'spiffe://vmesh.test/gw/branch' with pre-shared key successful" "$T/rm/charon.log" &&
    ok "charon (main), round 2: the attestation-derived PSK" || fail "charon log lacks the PSK round"
[ "$(metric_ns "$NS_RM" $ADMIN_M 'vmesh_ipsec_attestations_total{peer="branch",result="ok"}')" -ge 1 ] &&
    ok "main metrics: attestation ok" || fail "main attestation metric"
[ "$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_peer_up{peer="main"}')" = 1 ] && ok "branch metrics: peer up" || fail "branch peer_up"

# ---- 3. the underlay carries ESP only
ip netns exec "$NS_RM" tcpdump --immediate-mode -n -i wan0 -w "$T/wan.pcap" -U 'not port 7443 and not port 8080' >"$T/tcpdump.out" 2>&1 &
TD_WAN=$!; ix_pids+=($TD_WAN)
ip netns exec "$NS_HM" tcpdump --immediate-mode -n -i eth0 -w "$T/lan.pcap" -U 'port 8000' >"$T/tcpdump2.out" 2>&1 &
TD_LAN=$!; ix_pids+=($TD_LAN)
sleep 1
in_ns "$NS_HB" curl -s -m 5 -o "$T/got.txt" http://198.18.2.2:8000/marker.txt
in_ns "$NS_HB" curl -s -m 5 -o /dev/null http://198.18.2.2:8000/big.bin
can_ping
sleep 1
kill -INT $TD_WAN $TD_LAN; wait $TD_WAN $TD_LAN 2>/dev/null
total=$(tcpdump -n -r "$T/wan.pcap" 2>/dev/null | wc -l)
esp=$(tcpdump -n -r "$T/wan.pcap" 2>/dev/null | grep -c 'UDP-encap: ESP')
# IKE: port 500, or 4500 with the non-ESP marker (RFC 3948 §2.2); NAT-T
# keepalives: one 0xff byte on 4500 (§2.3; kernel-libipsec always uses NAT-T)
ike=$(tcpdump -n -r "$T/wan.pcap" 'udp port 500 or (udp port 4500 and udp[4:2] > 12 and udp[8:4] = 0)' 2>/dev/null | wc -l)
keepalive=$(tcpdump -n -r "$T/wan.pcap" 'udp port 4500 and udp[4:2] = 9 and udp[8] = 0xff' 2>/dev/null | wc -l)
clear=$(tcpdump -n -r "$T/wan.pcap" 'host 198.18.1.2 or host 198.18.2.2' 2>/dev/null | wc -l)
echo "  underlay capture: $total packets, $esp ESP-in-UDP, $ike IKE, $keepalive NAT-T keepalives, $clear with a host address in clear"
[ "$esp" -ge 10 ] && [ "$clear" = 0 ] && [ $((esp + ike + keepalive)) = "$total" ] &&
    ok "underlay: only ESP (and IKE, NAT-T keepalives) between the sites" ||
    { fail "underlay capture is not ESP only"; tcpdump -n -r "$T/wan.pcap" 2>/dev/null | grep -v 'UDP-encap: ESP' | head -5; }
grep -qa "VMESH-IPSEC-MARKER" "$T/wan.pcap" && fail "the marker crossed the underlay in clear" || ok "the marker never appears on the underlay"
grep -qa "VMESH-IPSEC-MARKER" "$T/lan.pcap" && ok "control: the same marker is visible on the main site's LAN" || fail "control capture lacks the marker"

# ---- 4. epoch change: re-attest and re-key make-before-break under ping
uid_before=$(swanctl_ rb --list-sas | sed -n 's/^vmesh-main: #\([0-9]*\),.*/\1/p' | head -1)
in_ns "$NS_HB" ping -i 0.05 -c 160 -W 1 198.18.2.2 > "$T/ping.out" 2>&1 &
PING=$!
sleep 1
ix_tick
epoch=$(bell_id)
for _ in $(seq 100); do
    [ "$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_rekeys_total{peer="main"}')" -ge 1 ] && break; sleep 0.1
done
wait $PING
rekeys=$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_rekeys_total{peer="main"}')
[ "$rekeys" -ge 1 ] && ok "branch re-keyed at the epoch change ($rekeys)" || fail "no re-key at the epoch change"
[ "$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_peer_epoch{peer="main"}')" = "$epoch" ] && ok "credential of the new epoch $epoch installed" || fail "epoch not $epoch"
uid_after=$(swanctl_ rb --list-sas | sed -n 's/^vmesh-main: #\([0-9]*\),.*/\1/p' | head -1)
[ -n "$uid_after" ] && [ "$uid_after" != "$uid_before" ] && [ "$(ike_sas rb)" = 1 ] &&
    ok "a new IKE SA (#$uid_before -> #$uid_after) replaced the old one" || fail "IKE SA not replaced ($uid_before -> $uid_after)"
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$T/ping.out")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$T/ping.out")
lost=$((sent - recv))
echo "  re-key under a 50 ms ping: $sent sent, $recv received, $lost lost; re-key took $(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_last_seconds{peer="main",what="rekey"}') s"
# break-before-make would lose the whole set-up time (several pings); make-before-break at most the switch-over
[ "$lost" -le 2 ] && ok "re-key lost $lost of $sent pings (make-before-break)" || fail "re-key lost $lost of $sent pings"
can_ping && ok "ping after the re-key" || fail "ping after the re-key"

# ---- 5. revocation of the branch's workload
# t0: the moment the new manifest is in place (publish writes it last)
ix_publish "$(other_digest branch)" "$(workload_digest main)"
t0=$(date +%s.%N)
down=""
for _ in $(seq 200); do
    if [ "$(ike_sas rm)" = 0 ]; then down=$(date +%s.%N); break; fi
    sleep 0.05
done
[ -n "$down" ] && el=$(python3 -c "print(round($down - $t0, 2))") || el=never
echo "  revocation published -> main's IKE SA gone: $el s (poll interval $POLL s)"
# one poll interval (+10 % jitter) plus a second for fetching, appraising and
# terminating on a loaded machine; the gateway's own share is printed too
[ -n "$down" ] && python3 -c "import sys; sys.exit(0 if $el <= $POLL * 1.1 + 1.0 else 1)" &&
    ok "IKE SA removed within one poll interval ($el s)" || fail "IKE SA not removed in time ($el s)"
echo "  main gateway: new snapshot -> credential removed and IKE SA terminated in $(metric_ns "$NS_RM" $ADMIN_M 'vmesh_ipsec_last_seconds{peer="branch",what="cut"}') s"
vstatus rm > "$T/rm.status" && ! grep -q '^shared vmesh-branch' "$T/rm.status" && ok "main charon: the credential is unloaded (get-shared)" ||
    { fail "credential still loaded"; cat "$T/rm.status"; }
[ "$(swanctl_ rm --list-conns 2>/dev/null | grep -c vmesh-branch)" = 0 ] && ok "main charon: the connection is unloaded" || fail "connection still loaded"
can_ping && fail "host-b still reaches host-m after the revocation" || ok "ping fails after the revocation"
[ "$(metric_ns "$NS_RM" $ADMIN_M 'vmesh_ipsec_cuts_total{peer="branch",reason="reappraisal"}')" = 1 ] && ok "main metrics: cut by re-appraisal" || fail "cut metric"
grep -q '"event":"cut"' "$T/main-access.log" && ok "main access log: cut" || fail "main access log lacks cut"
sleep 2
[ "$(ike_sas rb)" = 0 ] && [ "$(ike_sas rm)" = 0 ] && ok "no SA comes back while revoked" || fail "an SA came back while revoked"
grep -q "not-affirming" "$T/branch.err" && ok "branch: re-attestation refused by the main gateway (not-affirming)" || fail "branch log lacks the refusal"

# ---- 6. restore
t0=$(date +%s.%N)
ix_publish "$(workload_digest branch)" "$(workload_digest main)"
wait_state "$NS_RB" $ADMIN_B up 30 && ok "tunnel back after the restore ($(python3 -c "print(round($(date +%s.%N)-$t0,2))") s)" || fail "tunnel not back"
can_ping && ok "ping after the restore" || fail "ping after the restore"

stop_gw branch && ok "branch gateway exits 0 on SIGTERM" || fail "branch gateway exit status"
for _ in $(seq 50); do [ "$(ike_sas rb)" = 0 ] && break; sleep 0.1; done
[ "$(ike_sas rb)" = 0 ] && [ "$(swanctl_ rb --list-conns 2>/dev/null | grep -c vmesh-)" = 0 ] &&
    ok "a stopped gateway leaves nothing in its charon" || fail "leftovers in the branch charon"
stop_gw main || fail "main gateway exit status"
finish
