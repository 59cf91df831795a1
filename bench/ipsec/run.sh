#!/usr/bin/env bash
# bench/ipsec: attested IPsec (vmesh ipsec + strongSwan charon) against plain
# strongSwan in the same run, on the topology of the integration tests
# (tests/integration/ipsec_lib.bash: host-b - router-b == underlay ==
# router-m - host-m in network namespaces, charon with kernel-libipsec on
# both routers, the RVP on router-m, poll interval 2 s, psa-sim platforms).
#  1. time to a working tunnel, ROUNDS times each, from the start of the
#     initiating action to the first ping reply host-b -> host-m (a ping
#     every 10 ms runs throughout):
#       psk      plain strongSwan, one PSK round (swanctl --initiate)
#       cert+psk strongSwan with the SVID certificates and a static PSK: the
#                two rounds vmesh configures, without attestation
#       vmesh    start of the branch gateway (the main gateway runs): the
#                attested session both ways with appraisal, the credential
#                into both charons, IKE with both rounds
#  2. re-key cost, REKEYS times each under the 10 ms ping:
#       strongSwan make-before-break re-authentication (swanctl --rekey
#       --reauth, the cert+psk connection): time to the new SA alone
#       vmesh epoch re-key: bell tick -> new attested session -> new
#       credential -> make-before-break re-authentication; the gateway's
#       own measure (session start to old SA gone) and tick -> re-keyed
#     and the pings lost while it ran;
#  3. revocation, CYCLES times: `vmesh rvp publish` without the branch
#     workload -> no SA in the main charon (polled every 20 ms); then the
#     restore -> tunnel back.
# Writes the table into docs/BENCHMARKS.md (section ipsec).
# Usage: bench/ipsec/run.sh BUILD_DIR [ROUNDS] [REKEYS] [CYCLES]   (root)
set -u
BUILD=$(cd "${1:-build}" && pwd)
ROUNDS=${2:-10}
REKEYS=${3:-5}
CYCLES=${4:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export VMESH_BIN=$BUILD/src/cli/vmesh
[ -x "$VMESH_BIN" ] || { echo "bench/ipsec: build first ($VMESH_BIN missing)" >&2; exit 1; }
# make bench runs every benchmark: say why this one cannot run here and go on
[ "$(id -u)" -eq 0 ] && [ -x /usr/lib/ipsec/charon ] ||
    { echo "bench/ipsec: skipped: needs root and strongSwan's charon (scripts/install-deps.sh)" >&2; exit 0; }
. "$ROOT/tests/integration/lib.bash"
. "$ROOT/tests/integration/ipsec_lib.bash"
POLL=2
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
ix_setup
now() { date +%s.%N; }
log() { echo "bench/ipsec: $*" >&2; }

# ---- a ping every 10 ms from host-b, with timestamps
PING_PID=
ping_start() { ip netns exec "$NS_HB" ping -D -i 0.01 -W 1 198.18.2.2 > "$T/ping.$1" 2>&1 & PING_PID=$!; sleep 0.05; }
ping_stop() { kill -INT "$PING_PID" 2>/dev/null; wait "$PING_PID" 2>/dev/null; PING_PID=; }
wait_reply() { for _ in $(seq 1500); do grep -q "bytes from" "$T/ping.$1" && return 0; sleep 0.01; done; return 1; }
since() { # since FILE T0: first reply - T0 in seconds ("-" if none)
    python3 - "$T/ping.$1" "$2" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r"\[(\d+\.\d+)\].*bytes from", line)
    if m:
        print(float(m.group(1)) - float(sys.argv[2])); break
else:
    print("-")
PY
}
lost() {
    local s r
    s=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$T/ping.$1"); r=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$T/ping.$1")
    echo $(( ${s:-0} - ${r:-0} ))
}
stats() { # stats VALUES... -> "median p90 max" in ms
    python3 -c '
import statistics, sys
v = sorted(float(x) for x in sys.argv[1:] if x not in ("-", ""))
if not v: print("- - -"); sys.exit()
p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
print("%.0f %.0f %.0f" % (statistics.median(v) * 1000, p90 * 1000, v[-1] * 1000))' "$@"
}

# ---- strongSwan-only connections (swanctl) for the baselines
plain_conf() { # plain_conf R MODE(psk|certpsk) PSKHEX
    local r=$1 mode=$2 me peer lts rts raddr
    if [ "$r" = rb ]; then me=branch peer=main lts=198.18.1.0/24 rts=198.18.2.0/24 raddr=198.18.0.2
    else me=main peer=branch lts=198.18.2.0/24 rts=198.18.1.0/24 raddr=198.18.0.1; fi
    local myid="{201}:spiffe://$TD/gw/$me" peerid="{201}:spiffe://$TD/gw/$peer"
    mkdir -p "$T/plain-$r/private" "$T/plain-$r/x509ca"
    cp "$T/$me.key" "$T/plain-$r/private/"
    cp "$T/ca/ca.pem" "$T/plain-$r/x509ca/"
    {
        printf 'connections {\n plain {\n  version = 2\n  remote_addrs = %s\n' "$raddr"
        printf '  proposals = aes256gcm16-prfsha256-ecp256\n  unique = never\n  mobike = no\n'
        if [ "$mode" = psk ]; then
            printf '  local {\n   auth = psk\n   id = "%s"\n  }\n  remote {\n   auth = psk\n   id = "%s"\n  }\n' "$myid" "$peerid"
        else
            printf '  local-1 {\n   auth = pubkey\n   certs = %s\n   id = "%s"\n  }\n' "$T/$me.pem" "$myid"
            printf '  local-2 {\n   auth = psk\n   id = "%s"\n  }\n' "$myid"
            printf '  remote-1 {\n   auth = pubkey\n   id = "%s"\n  }\n' "$peerid"
            printf '  remote-2 {\n   auth = psk\n   id = "%s"\n  }\n' "$peerid"
        fi
        printf '  children {\n   net {\n    local_ts = %s\n    remote_ts = %s\n    esp_proposals = aes256gcm16\n   }\n  }\n }\n}\n' "$lts" "$rts"
        printf 'secrets {\n ike-plain {\n  id-1 = "%s"\n  id-2 = "%s"\n  secret = 0x%s\n }\n}\n' "$myid" "$peerid" "$3"
    } > "$T/plain-$r/swanctl.conf"
    swanctl_ "$r" --load-all --clear --file "$T/plain-$r/swanctl.conf" >"$T/plain-$r/load.out" 2>&1 ||
        { log "swanctl load failed:"; cat "$T/plain-$r/load.out" >&2; exit 1; }
}
plain_unload() {
    local r
    for r in rb rm; do
        swanctl_ $r --terminate --ike plain --force >/dev/null 2>&1
        printf 'connections {\n}\nsecrets {\n}\n' > "$T/plain-$r/empty.conf"
        swanctl_ $r --load-all --clear --file "$T/plain-$r/empty.conf" >/dev/null 2>&1
    done
    for _ in $(seq 100); do [ "$(ike_sas rb)" = 0 ] && [ "$(ike_sas rm)" = 0 ] && return; sleep 0.02; done
}
plain_up() { # plain_up MODE PSK NAME: loads, initiates; prints seconds to the first ping reply
    plain_conf rb "$1" "$2"; plain_conf rm "$1" "$2"
    ping_start "$3"
    local t0; t0=$(now)
    swanctl_ rb --initiate --child net --ike plain >"$T/plain-init.out" 2>&1 || { log "initiate failed:"; tail -3 "$T/plain-init.out" >&2; }
    wait_reply "$3"; ping_stop
    since "$3" "$t0"
}

# ---- 1. time to a working tunnel
declare -a T_PSK T_CERT T_ATT T_SESS T_GW
log "set-up: $ROUNDS rounds each of psk, cert+psk (strongSwan alone)"
for ((i = 0; i < ROUNDS; i++)); do
    psk=$(openssl rand -hex 32)
    T_PSK+=("$(plain_up psk "$psk" "psk.$i")"); plain_unload
    T_CERT+=("$(plain_up certpsk "$psk" "cert.$i")"); plain_unload
done
log "set-up: $ROUNDS rounds of vmesh ipsec"
ix_gw main
for ((i = 0; i < ROUNDS; i++)); do
    : > "$T/branch-access.log"
    ping_start "att.$i"
    t0=$(now)
    ix_gw branch --monitor-ms 20
    wait_reply "att.$i"; ping_stop
    T_ATT+=("$(since "att.$i" "$t0")")
    T_GW+=("$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_last_seconds{peer="main",what="setup"}')")
    T_SESS+=("$(python3 -c "import json; ev=[json.loads(l) for l in open('$T/branch-access.log')]; print([e['ms'] for e in ev if e['event']=='attested'][-1]/1000)" 2>/dev/null || echo -)")
    stop_gw branch
    for _ in $(seq 200); do [ "$(ike_sas rm)" = 0 ] && [ -z "$(vstatus rm)" ] && break; sleep 0.02; done
done
stop_gw main

# ---- 2. re-key cost
declare -a R_PLAIN R_ATT R_TICK
psk=$(openssl rand -hex 32)
log "re-key: $REKEYS strongSwan re-authentications"
plain_conf rb certpsk "$psk"; plain_conf rm certpsk "$psk"
swanctl_ rb --initiate --child net --ike plain >/dev/null 2>&1
ping_start rekey-plain
for ((i = 0; i < REKEYS; i++)); do
    uid=$(swanctl_ rb --list-sas | sed -n 's/^plain: #\([0-9]*\),.*/\1/p' | head -1)
    t0=$(now)
    swanctl_ rb --rekey --ike plain --reauth >/dev/null 2>&1
    for _ in $(seq 500); do
        new=$(swanctl_ rb --list-sas | sed -n 's/^plain: #\([0-9]*\),.*/\1/p')
        [ "$(echo "$new" | wc -l)" = 1 ] && [ -n "$new" ] && [ "$new" != "$uid" ] && break
        sleep 0.01
    done
    R_PLAIN+=("$(python3 -c "print($(now) - $t0)")")
    sleep 0.5
done
ping_stop; LOST_PLAIN=$(lost rekey-plain); SENT_PLAIN=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$T/ping.rekey-plain")
plain_unload
log "re-key: $REKEYS vmesh epoch re-keys"
ix_gw main
ix_gw branch --monitor-ms 20
wait_state "$NS_RB" $ADMIN_B up 30 || { log "tunnel not up"; exit 1; }
ping_start rekey-att
for ((i = 0; i < REKEYS; i++)); do
    before=$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_rekeys_total{peer="main"}')
    t0=$(now)
    ix_tick
    for _ in $(seq 1000); do
        [ "$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_rekeys_total{peer="main"}')" -gt "$before" ] && break; sleep 0.01
    done
    R_TICK+=("$(python3 -c "print($(now) - $t0)")")
    R_ATT+=("$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_last_seconds{peer="main",what="rekey"}')")
    sleep 0.5
done
ping_stop; LOST_ATT=$(lost rekey-att); SENT_ATT=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$T/ping.rekey-att")

# ---- 3. revocation
declare -a V_DOWN V_BACK V_CUT
reply_after() { # reply_after NAME T0: waits for a ping reply stamped after T0; prints the delay
    python3 - "$T/ping.$1" "$2" <<'PY'
import re, sys, time
t0 = float(sys.argv[2])
for _ in range(3000):
    for line in open(sys.argv[1]):
        m = re.match(r"\[(\d+\.\d+)\].*bytes from", line)
        if m and float(m.group(1)) > t0:
            print(float(m.group(1)) - t0); sys.exit()
    time.sleep(0.02)
print("-")
PY
}
log "revocation: $CYCLES cycles"
ping_start revoke
for ((i = 0; i < CYCLES; i++)); do
    ix_publish "$(other_digest branch)" "$(workload_digest main)"
    t0=$(now)
    for _ in $(seq 1000); do [ "$(ike_sas rm)" = 0 ] && break; sleep 0.02; done
    V_DOWN+=("$(python3 -c "print($(now) - $t0)")")
    V_CUT+=("$(metric_ns "$NS_RM" $ADMIN_M 'vmesh_ipsec_last_seconds{peer="branch",what="cut"}')")
    sleep 1
    ix_publish "$(workload_digest branch)" "$(workload_digest main)"
    t0=$(now)
    V_BACK+=("$(reply_after revoke "$t0")")
done
ping_stop
stop_gw branch; stop_gw main

# ---- report
read -r psk_m psk_p psk_x <<<"$(stats "${T_PSK[@]}")"
read -r cert_m cert_p cert_x <<<"$(stats "${T_CERT[@]}")"
read -r att_m att_p att_x <<<"$(stats "${T_ATT[@]}")"
read -r sess_m sess_p sess_x <<<"$(stats "${T_SESS[@]}")"
read -r gw_m gw_p gw_x <<<"$(stats "${T_GW[@]}")"
read -r rp_m rp_p rp_x <<<"$(stats "${R_PLAIN[@]}")"
read -r ra_m ra_p ra_x <<<"$(stats "${R_ATT[@]}")"
read -r rt_m rt_p rt_x <<<"$(stats "${R_TICK[@]}")"
read -r vd_m vd_p vd_x <<<"$(stats "${V_DOWN[@]}")"
read -r vc_m vc_p vc_x <<<"$(stats "${V_CUT[@]}")"
read -r vb_m vb_p vb_x <<<"$(stats "${V_BACK[@]}")"
ratio() { python3 -c "print('%.1f' % ($1 / $2) if '$1' != '-' and '$2' not in ('-', '0') else '-')"; }
kernel=$(uname -r)
{
cat <<EOF
## bench/ipsec — attested IPsec vs plain strongSwan

\`bench/ipsec/run.sh\` ($(date -u +%Y-%m-%d), strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null), charon with kernel-libipsec (ESP in
user space; kernel $kernel has no ESP transform), two routers in network namespaces on one machine, psa-sim
platforms, bundle poll interval $POLL s, load average $LOAD0 at the start on $(nproc) cores; medians with p90 and max,
all in ms. Time to a working tunnel is
measured from the initiating action to the first reply of a ping that runs every 10 ms from host-b to host-m.

| what | runs | median | p90 | max | vs plain PSK |
|---|---|---|---|---|---|
| tunnel set-up, strongSwan, one PSK round | $ROUNDS | $psk_m | $psk_p | $psk_x | 1.0 |
| tunnel set-up, strongSwan, SVID certificate + static PSK (vmesh's two rounds) | $ROUNDS | $cert_m | $cert_p | $cert_x | $(ratio "$cert_m" "$psk_m") |
| tunnel set-up, vmesh ipsec (gateway start → attested session → credential → IKE, two rounds) | $ROUNDS | $att_m | $att_p | $att_x | $(ratio "$att_m" "$psk_m") |
| … attested session start → IKE and CHILD SA up (the gateway's measure, 20 ms SA monitor) | $ROUNDS | $gw_m | $gw_p | $gw_x | |
| … of which the attested session (TCP, TLS 1.3, both attestations and appraisals) | $ROUNDS | $sess_m | $sess_p | $sess_x | |
| re-key, strongSwan make-before-break re-authentication (cert + static PSK) | $REKEYS | $rp_m | $rp_p | $rp_x | lost pings: $LOST_PLAIN of $SENT_PLAIN |
| re-key, vmesh epoch re-key (attested session start → old SA gone) | $REKEYS | $ra_m | $ra_p | $ra_x | lost pings: $LOST_ATT of $SENT_ATT |
| … bell tick published → re-keyed (includes waiting for the next bell poll) | $REKEYS | $rt_m | $rt_p | $rt_x | |
| revocation published → no SA at the main router | $CYCLES | $vd_m | $vd_p | $vd_x | poll interval $((POLL * 1000)) |
| … new snapshot → credential removed and IKE SA terminated (main gateway) | $CYCLES | $vc_m | $vc_p | $vc_x | |
| restore published → first ping reply through the tunnel again | $CYCLES | $vb_m | $vb_p | $vb_x | |

Reading: the attested tunnel costs the attested session (a few tens of ms with psa-sim) on top of the same IKE
exchange; the vmesh set-up row also includes starting the gateway process, loading its SVID key into charon, its
first bundle and bell fetch, and up to one 20 ms SA-monitor tick. The two re-key durations are measured differently
(strongSwan's from the rekey command to the old SA gone by polling \`swanctl --list-sas\`, a process per poll; vmesh's by
the gateway's own 20 ms monitor) and compare only roughly; the lost pings compare exactly: a re-key under traffic
loses no more pings than strongSwan's own make-before-break re-authentication. A max near 4 s in either re-key row is charon's first IKE
retransmission (retransmit_timeout 4 s): an IKE_SA_INIT response lost at the start of a re-authentication, seen
with and without vmesh (charon's log says \`retransmit 1 of request with message ID 0\`); no ping is lost then
either. The time to cut a revoked gateway is dominated by waiting for the next bundle poll (at most the poll
interval plus 10 % jitter); the gateway itself removes the credential and terminates the IKE SA within the
"new snapshot" row.
EOF
} > "$T/table.md"
cat "$T/table.md"
python3 "$ROOT/bench/lib/mdsection.py" ipsec "$ROOT/docs/BENCHMARKS.md" < "$T/table.md"
