#!/usr/bin/env bash
# A gateway that cannot prove an endorsed platform never gets an IKE SA
# (ipsec_lib.bash has the topology; real charon on both routers):
#  1. the branch router runs a workload the RVP does not approve: the main
#     gateway refuses its attestation, installs nothing, and neither charon
#     ever has an SA (swanctl --list-sas, charon's log);
#  2. the branch's operator drives its own charon by hand (swanctl) with
#     the branch SVID and a guessed PSK: the main charon has no connection
#     for it and refuses the IKE_SA;
#  3. a branch gateway that does not attest at all is refused the same way.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/ipsec_lib.bash"
ix_net
ix_pki
# the RVP approves the main router's workload, not the branch's
ix_publish "$(other_digest branch)" "$(workload_digest main)"
ix_rvp
ix_charon rb
ix_charon rm
ix_gw main

# ---- 1. an unendorsed platform
ix_gw branch
for _ in $(seq 100); do
    [ "$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_attestations_total{peer="main",result="peer-refused"}')" -ge 2 ] && break
    sleep 0.1
done
n=$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_attestations_total{peer="main",result="peer-refused"}')
[ "$n" -ge 2 ] && ok "the branch gateway's attestation is refused by the main gateway ($n attempts)" || fail "no refusal ($n)"
grep -q "not-affirming" "$T/main.err" && ok "main gateway log: not-affirming (the workload matches no reference value)" ||
    fail "main log lacks the reason"
[ "$(metric_ns "$NS_RM" $ADMIN_M 'vmesh_ipsec_installs_total{peer="branch"}')" = 0 ] && ok "main gateway installed no credential" ||
    fail "main installed a credential"
for r in rb rm; do
    swanctl_ $r --list-sas > "$T/$r.sas" 2>&1
    [ ! -s "$T/$r.sas" ] && ok "swanctl --list-sas ($r): no SA at all" || { fail "$r has an SA"; cat "$T/$r.sas"; }
done
vstatus rm > "$T/rm.status"
[ ! -s "$T/rm.status" ] && ok "main charon holds no connection and no shared key" || { fail "main charon holds something"; cat "$T/rm.status"; }
grep -q "established" "$T/rm/charon.log" && fail "main charon log shows an established SA" || ok "main charon log: nothing established"
can_ping && fail "host-b reaches host-m" || ok "ping between the sites fails"
[ "$(metric_ns "$NS_RB" $ADMIN_B 'vmesh_ipsec_peer_up{peer="main"}')" = 0 ] && ok "branch metrics: peer not up" || fail "peer_up"

# ---- 2. hand-driven IKE from the unendorsed router: a guessed PSK and the real SVID
mkdir -p "$T/attacker/private"
cp "$T/branch.key" "$T/attacker/private/"
cat > "$T/attacker/swanctl.conf" <<EOF
connections {
  attack {
    version = 2
    remote_addrs = 198.18.0.2
    proposals = aes256gcm16-prfsha256-ecp256
    local-1 {
      auth = pubkey
      certs = $T/branch.pem
      id = "{201}:$ID_B"
    }
    local-2 {
      auth = psk
      id = "{201}:$ID_B"
    }
    remote-1 {
      auth = pubkey
      id = "{201}:$ID_M"
      cacerts = $T/ca/ca.pem
    }
    remote-2 {
      auth = psk
      id = "{201}:$ID_M"
    }
    children {
      net {
        local_ts = 198.18.1.0/24
        remote_ts = 198.18.2.0/24
        esp_proposals = aes256gcm16
      }
    }
  }
}
secrets {
  ike-guess {
    id-1 = "{201}:$ID_B"
    id-2 = "{201}:$ID_M"
    secret = 0x$(openssl rand -hex 32)
  }
}
EOF
swanctl_ rb --load-all --file "$T/attacker/swanctl.conf" >"$T/attacker/load.out" 2>&1
grep -q "loaded connection 'attack'" "$T/attacker/load.out" && ok "attacker: connection with the branch SVID and a guessed PSK loaded" ||
    { fail "attacker config did not load"; cat "$T/attacker/load.out"; }
timeout 20 env STRONGSWAN_CONF="$T/rb/strongswan.conf" swanctl --initiate --ike attack --child net \
    --uri "unix://$T/rb/charon.vici" >"$T/attacker/initiate.out" 2>&1
grep -q "initiate completed successfully" "$T/attacker/initiate.out" && fail "the hand-driven IKE_SA came up" ||
    ok "the hand-driven IKE_SA fails"
grep -Eq "no IKE config found|no matching peer config|NO_PROPOSAL_CHOSEN" "$T/rm/charon.log" &&
    ok "main charon log: $(grep -Eo "no IKE config found[^,]*|no matching peer config found" "$T/rm/charon.log" | head -1)" ||
    { fail "main charon log lacks the refusal"; tail -20 "$T/rm/charon.log"; }
[ "$(ike_sas rm)" = 0 ] && [ "$(ike_sas rb)" = 0 ] && ok "still no SA on either charon" || fail "an SA exists"
can_ping && fail "host-b reaches host-m" || ok "ping still fails"
swanctl_ rb --terminate --ike attack >/dev/null 2>&1
stop_gw branch

# ---- 3. a gateway that does not attest at all
ip netns exec "$NS_RB" "$VMESH" ipsec --cert "$T/branch-chain.pem" --key "$T/branch.key" --bundle "$T/ca/bundle.pem" \
    --rvp "acme,http://198.18.0.2:$RVP_PORT,$T/rvp.pub" --state-dir "$T/branch-state2" --poll "$POLL" \
    --bell-key "$T/bell.pub" --retry 1 --deadline-ms 5000 --vici "unix://$T/rb/charon.vici" --admin "127.0.0.1:$ADMIN_B" \
    --peer "name=main,id=$ID_M,connect=198.18.0.2:$CTL_PORT,local-ts=198.18.1.0/24,remote-ts=198.18.2.0/24" \
    >"$T/noattest.out" 2>"$T/noattest.err" &
ix_pids+=($!)
GW_PID_branch=$!
for _ in $(seq 100); do grep -q "unattested-refused" "$T/main.err" && break; sleep 0.1; done
grep -q "unattested-refused" "$T/main.err" && ok "main gateway refuses a branch that does not attest (unattested-refused)" ||
    { fail "no unattested-refused"; tail -5 "$T/main.err" "$T/noattest.err"; }
[ "$(ike_sas rm)" = 0 ] && [ -z "$(vstatus rm)" ] && ok "nothing installed for the unattested gateway" || fail "something installed"
stop_gw branch
stop_gw main
finish
