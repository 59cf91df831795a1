# Shared setup for the vmesh ipsec integration tests (sourced after
# lib.bash; not a test itself). Builds, all inside network namespaces this
# test creates and removes (addresses in 198.18.0.0/15 only):
#
#   host-b (198.18.1.2) ── router-b (198.18.1.1 | 198.18.0.1) ══ underlay ══
#          (198.18.0.2 | 198.18.2.1) router-m ── host-m (198.18.2.2)
#
# with IP forwarding on both routers but no route between the two LANs: a
# packet from host-b reaches host-m only through the IPsec tunnel. Each
# router runs a real strongSwan charon (kernel-libipsec: this kernel has no
# ESP transform) with its own strongswan.conf, vici socket and, through a
# private mount namespace, its own /run (charon's pid file is fixed at
# /var/run/charon.pid). Router-m also runs the RVP (vmesh rvp serve on
# 198.18.0.2): the trust bundle with both gateways' reference values and the
# epoch bell. Both gateways attest with psa-sim.
#
# Skips (exit 77) unless root, with charon, ip netns, unshare and ping.
CHARON=${VMESH_CHARON:-/usr/lib/ipsec/charon}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces, charon)"; exit 77; }
[ -x "$CHARON" ] || { echo "SKIP: strongSwan's charon not found at $CHARON (apt-get install strongswan-charon)"; exit 77; }
for tool in swanctl ip unshare ping curl python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done
[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] ||
    { echo "SKIP: charon's kernel-libipsec plugin missing (apt-get install libcharon-extra-plugins)"; exit 77; }
[ -e /usr/lib/ipsec/plugins/libstrongswan-openssl.so ] ||
    { echo "SKIP: charon's openssl plugin missing (apt-get install libstrongswan-standard-plugins)"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: /dev/net/tun missing (kernel-libipsec needs a TUN device)"; exit 77; }

NSP="vmi$$"
NS_HB=$NSP-hb NS_RB=$NSP-rb NS_RM=$NSP-rm NS_HM=$NSP-hm
TD=vmesh.test
ID_B=spiffe://$TD/gw/branch ID_M=spiffe://$TD/gw/main
RVP_PORT=8080 CTL_PORT=7443 ADMIN_B=9101 ADMIN_M=9102
POLL=${IPSEC_POLL:-2}

ix_pids=()
ix_netns_made=()
ix_cleanup() {
    # newest first: the gateways remove their credentials while charon runs
    local i p
    for ((i = ${#ix_pids[@]} - 1; i >= 0; i--)); do
        p=${ix_pids[i]}
        kill "$p" 2>/dev/null || continue
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null
    done
    for p in "${ix_netns_made[@]}"; do ip netns del "$p" 2>/dev/null; done
}
cleanup_hooks+=("ix_cleanup")

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

ix_net() {
    local n
    for n in $NS_HB $NS_RB $NS_RM $NS_HM; do
        ip netns add "$n" || { echo "SKIP: ip netns add failed"; exit 77; }
        ix_netns_made+=("$n")
        ip -n "$n" link set lo up
        # IPv4 only: the kernel's IPv6 router solicitations on a new veth
        # (seen under load) are not the underlay traffic the tests judge
        in_ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    done
    ip -n "$NS_RB" link add lan0 type veth peer name eth0 netns "$NS_HB"
    ip -n "$NS_RB" link add wan0 type veth peer name wan0 netns "$NS_RM"
    ip -n "$NS_RM" link add lan0 type veth peer name eth0 netns "$NS_HM"
    ip -n "$NS_HB" addr add 198.18.1.2/24 dev eth0
    ip -n "$NS_RB" addr add 198.18.1.1/24 dev lan0
    ip -n "$NS_RB" addr add 198.18.0.1/24 dev wan0
    ip -n "$NS_RM" addr add 198.18.0.2/24 dev wan0
    ip -n "$NS_RM" addr add 198.18.2.1/24 dev lan0
    ip -n "$NS_HM" addr add 198.18.2.2/24 dev eth0
    for n in "$NS_HB:eth0" "$NS_RB:lan0" "$NS_RB:wan0" "$NS_RM:wan0" "$NS_RM:lan0" "$NS_HM:eth0"; do
        ip -n "${n%%:*}" link set "${n##*:}" up
    done
    ip -n "$NS_HB" route add default via 198.18.1.1
    ip -n "$NS_HM" route add default via 198.18.2.1
    in_ns "$NS_RB" sysctl -qw net.ipv4.ip_forward=1
    in_ns "$NS_RM" sysctl -qw net.ipv4.ip_forward=1
}

# ix_platform WHO: psa-sim IAK, claims, firmware and workload of gateway WHO
ix_platform() { psa_sim_platform "$T/$1" vmesh-ipsec-test-impl "router firmware of $1" "vmesh ipsec gateway $1 v1"; }

# ix_rv WHO WORKLOAD_DIGEST: RV JSON for WHO's platform
ix_rv() {
    local impl
    impl=$(printf 'vmesh-ipsec-test-impl-%-10s' "$1" | head -c 32 | base64 -w0)
    cat <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$impl",
    "measurements": [
      { "name": "BL", "digest": { "alg": "sha-256", "value": "$(sha256sum "$T/$1-fw" | cut -d' ' -f1)" } },
      { "name": "workload", "digest": { "alg": "sha-256", "value": "$2" } } ],
    "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$T/$1-iak.pub") ] } ] }
JSON
}
workload_digest() { sha256sum "$T/$1-workload" | cut -d' ' -f1; }
other_digest() { printf 'not the %s workload' "$1" | sha256sum | cut -d' ' -f1; }

# ix_publish BRANCH_DIGEST MAIN_DIGEST: a new bundle epoch with these workloads approved
ix_publish() {
    mkdir -p "$T/rvin"
    ix_rv branch "$1" > "$T/rvin/branch.json"
    ix_rv main "$2" > "$T/rvin/main.json"
    "$VMESH" rvp publish --key "$T/rvp.key" --in "$T/rvin" --out "$T/rvweb" --name acme --validity 3600 >/dev/null ||
        { echo "rvp publish failed"; exit 1; }
}
ix_tick() { "$VMESH" rvp tick --key "$T/bell.key" --out "$T/rvweb" >/dev/null || { echo "rvp tick failed"; exit 1; }; }
bell_id() { "$VMESH" rvp tick --show "$T/rvweb/bell.cwt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tick"])'; }

ix_pki() {
    cd "$T" || exit 1
    "$VMESH" ca init --trust-domain $TD --out ca >/dev/null || { echo "ca init failed"; exit 1; }
    "$VMESH" ca issue --ca ca --spiffe-id "$ID_B" --out branch >/dev/null
    "$VMESH" ca issue --ca ca --spiffe-id "$ID_M" --out main >/dev/null
    "$VMESH" keygen --type ec-p256 -o rvp.key --pub rvp.pub >/dev/null
    "$VMESH" keygen --type ec-p256 -o bell.key --pub bell.pub >/dev/null
    ix_platform branch
    ix_platform main
    mkdir -p "$T/rvweb"
    ix_publish "$(workload_digest branch)" "$(workload_digest main)"
    ix_tick
}

# ix_charon R (rb|rm): writes its strongswan.conf and starts charon in the router's namespace
ix_charon() {
    local r=$1 ns pid i
    ns=$([ "$r" = rb ] && echo "$NS_RB" || echo "$NS_RM")
    "$VMESH" ipsec charon-conf --dir "$T/$r" >/dev/null || { echo "charon-conf failed"; exit 1; }
    ip netns exec "$ns" unshare -m --propagation private sh -c \
        "mount --bind '$T/$r/run' /run && exec env STRONGSWAN_CONF='$T/$r/strongswan.conf' '$CHARON'" \
        >"$T/$r/charon.out" 2>&1 &
    pid=$!
    ix_pids+=("$pid")
    eval "CHARON_PID_$r=$pid"
    for i in $(seq 100); do
        swanctl_ "$r" --stats >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "charon in $ns did not start:"; cat "$T/$r/charon.out" "$T/$r/charon.log" 2>/dev/null | tail -20
    exit 1
}
swanctl_() { local r=$1; shift; STRONGSWAN_CONF="$T/$r/strongswan.conf" swanctl "$@" --uri "unix://$T/$r/charon.vici"; }
# vstatus R: what R's charon holds (vmesh ipsec status: conn/shared/sa lines)
vstatus() { "$VMESH" ipsec status --vici "unix://$T/$1/charon.vici"; }
# ike_sas R: number of established IKE SAs in R's charon (swanctl --list-sas)
ike_sas() { swanctl_ "$1" --list-sas 2>/dev/null | grep -c 'ESTABLISHED' || true; }

# ix_gw WHO [EXTRA...]: starts vmesh ipsec for gateway WHO (branch dials main)
ix_gw() {
    local who=$1; shift
    local ns r admin peer common pid
    common=(--cert "$T/$who-chain.pem" --key "$T/$who.key" --bundle "$T/ca/bundle.pem"
            --platform psa --iak "$T/$who-iak.pem" --claims "$T/$who-claims.json"
            --measure "BL=$T/$who-fw" --measure "workload=$T/$who-workload"
            --rvp "acme,http://198.18.0.2:$RVP_PORT,$T/rvp.pub" --state-dir "$T/$who-state" --poll "$POLL"
            --bell-key "$T/bell.pub" --retry 1 --deadline-ms 5000
            --access-log "$T/$who-access.log")
    if [ "$who" = branch ]; then
        ns=$NS_RB r=rb admin=$ADMIN_B
        peer="name=main,id=$ID_M,connect=198.18.0.2:$CTL_PORT,local-ts=198.18.1.0/24,remote-ts=198.18.2.0/24"
    else
        ns=$NS_RM r=rm admin=$ADMIN_M
        peer="name=branch,id=$ID_B,remote-addr=198.18.0.1,local-ts=198.18.2.0/24,remote-ts=198.18.1.0/24"
        common+=(--listen "198.18.0.2:$CTL_PORT")
    fi
    ip netns exec "$ns" "$VMESH" ipsec "${common[@]}" --vici "unix://$T/$r/charon.vici" --peer "$peer" \
        --admin "127.0.0.1:$admin" "$@" >"$T/$who.out" 2>"$T/$who.err" &
    pid=$!
    ix_pids+=("$pid")
    eval "GW_PID_$who=$pid"
    wait_ready_ns "$ns" "$admin" || { echo "vmesh ipsec $who not ready:"; tail -20 "$T/$who.err"; exit 1; }
}
stop_gw() { # stop_gw WHO: SIGTERM, wait; returns its exit code
    local pid; eval "pid=\${GW_PID_$1:-}"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null; wait "$pid"; local rc=$?
    eval "GW_PID_$1="
    return $rc
}
wait_ready_ns() {
    local i
    for i in $(seq 150); do
        [ "$(in_ns "$1" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/ready")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
metric_ns() { # metric_ns NS ADMIN 'name{labels}'
    in_ns "$1" curl -s "http://127.0.0.1:$2/metrics" | awk -v k="$3" '$1 == k { print $2; f=1 } END { if (!f) print 0 }'
}
peer_state() { # peer_state NS ADMIN: state of the (only) peer
    in_ns "$1" curl -s "http://127.0.0.1:$2/peers" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])'
}
# wait_state NS ADMIN STATE SECONDS
wait_state() {
    local i n=$(( $4 * 10 ))
    for ((i = 0; i < n; i++)); do
        [ "$(peer_state "$1" "$2" 2>/dev/null)" = "$3" ] && return 0
        sleep 0.1
    done
    return 1
}
# can_ping: one ping from host-b to host-m through the tunnel
can_ping() { in_ns "$NS_HB" ping -c1 -W1 198.18.2.2 >/dev/null 2>&1; }

ix_rvp() {
    ip netns exec "$NS_RM" "$VMESH" rvp serve --root "$T/rvweb" --listen "198.18.0.2:$RVP_PORT" >"$T/rvp.out" 2>"$T/rvp.err" &
    ix_pids+=($!)
    local i
    for i in $(seq 100); do
        in_ns "$NS_RB" curl -s -o /dev/null "http://198.18.0.2:$RVP_PORT/manifest.jws" && return 0
        sleep 0.05
    done
    echo "rvp serve did not start"; cat "$T/rvp.err"; exit 1
}

# Everything up to two charons without credentials.
ix_setup() {
    ix_net
    ix_pki
    ix_rvp
    ix_charon rb
    ix_charon rm
}
